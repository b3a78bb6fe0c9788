// Per-task/style/mode metrics with intervals, and stratified accuracy tables, from item records.
import Records

public enum Aggregation {
    /// Items grouped by task/style/mode, each group in item order.
    public static func groups(_ items: [EvaluatedItem]) -> [String: [EvaluatedItem]] {
        var g: [String: [EvaluatedItem]] = [:]
        for r in items { g[r.group, default: []].append(r) }
        return g
    }

    /// One group's metrics: accuracy with its Wilson interval, counts of unparseable and
    /// truncated answers, spelling similarity means with bootstrap intervals, trivial baselines.
    public static func groupMetrics(_ rs: [EvaluatedItem]) -> GroupMetrics {
        let p = Metrics.proportion(rs.map(\.correct))
        var m = GroupMetrics(n: p.n, correct: p.correct, accuracy: p.accuracy, accuracyCI95: p.ci95,
                             unparseable: rs.filter { $0.parsed == nil }.count, truncated: rs.filter(\.truncated).count)
        let scored = rs.compactMap(\.spelling)
        for k in SpellingScores.CodingKeys.allCases {
            let v = scored.map { $0[k] }
            guard let mean = Metrics.mean(v) else { continue }
            let b = Metrics.bootstrapMean(v)
            m.spelling[k] = Mean(value: mean, ci95: [b.low, b.high])
        }
        let spelled = rs.compactMap(\.spelledWordCorrectly)
        if !spelled.isEmpty { m.spelledWordInOutputRate = Double(spelled.filter { $0 }.count) / Double(spelled.count) }
        Baselines.annotate(&m, items: rs)
        return m
    }

    public static func metrics(_ items: [EvaluatedItem]) -> [String: GroupMetrics] {
        groups(items).mapValues(groupMetrics)
    }

    /// The dimensions accuracy is stratified by (fields of the question's facts).
    public static let dimensions = ["word_length", "repeated_letters", "word_tokens", "position", "token_length_at_position"]

    /// Accuracy by word length, repeated letters, tokens per word, asked position, and the length
    /// of the token holding the asked letter: {group: {dimension: {bucket: [n, correct]}}}.
    public static func stratified(_ items: [EvaluatedItem]) -> [String: [String: [String: [Int]]]] {
        var out: [String: [String: [String: [Int]]]] = [:]
        for r in items {
            for dim in dimensions {
                guard let v = r.metadata.integer(dim) else { continue }
                var cell = out[r.group, default: [:]][dim, default: [:]][String(v), default: [0, 0]]
                cell[0] += 1
                if r.correct { cell[1] += 1 }
                out[r.group, default: [:]][dim, default: [:]][String(v)] = cell
            }
        }
        return out
    }

    /// Accuracy per integer bucket of one fact over the items of a task (for charts).
    public static func byBucket(_ items: [EvaluatedItem], task: String, dimension: String) -> [(bucket: Int, accuracy: Proportion)] {
        var cells: [Int: [Bool]] = [:]
        for r in items where r.task == task {
            guard let v = r.metadata.integer(dimension) else { continue }
            cells[v, default: []].append(r.correct)
        }
        return cells.keys.sorted().map { ($0, Metrics.proportion(cells[$0] ?? [])) }
    }
}

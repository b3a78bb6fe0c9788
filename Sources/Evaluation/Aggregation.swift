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
    public static func groupMetrics(_ rs: [EvaluatedItem], fitted: String? = nil) -> GroupMetrics {
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
        Baselines.annotate(&m, items: rs, fitted: fitted)
        // Likelihood: where the gold answer ranks among the candidates, and how well calibrated the distribution is.
        let scored2 = rs.compactMap { r in r.likelihood.map { (r, $0) } }
        if !scored2.isEmpty {
            let ranks = scored2.map { r, c in Double(c.rank(of: AnswerExtraction.normalizedGold(r.answerType, r.gold)) ?? c.candidates.count + 1) }
            m.meanGoldRank = Metrics.mean(ranks)
            m.brier = Metrics.mean(scored2.map { r, c in c.brier(gold: AnswerExtraction.normalizedGold(r.answerType, r.gold)) })
        }
        let generatedAnswers = rs.filter { !$0.isLikelihood && ($0.answerType == .number || $0.answerType == .letter) }
        if !generatedAnswers.isEmpty {
            m.spelledOutRate = Double(generatedAnswers.filter { AnswerExtraction.spelling($0.output) != nil }.count) / Double(generatedAnswers.count)
        }
        let implied = rs.compactMap(\.implied)
        if !implied.isEmpty { m.spellingImplied = Metrics.proportion(implied.map(\.correct)) }
        return m
    }

    /// Every group's metrics; `fitted` gives a group's constant baseline answer chosen on the validation split.
    public static func metrics(_ items: [EvaluatedItem], fitted: [String: String] = [:]) -> [String: GroupMetrics] {
        groups(items).reduce(into: [:]) { $0[$1.key] = groupMetrics($1.value, fitted: fitted[$1.key]) }
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

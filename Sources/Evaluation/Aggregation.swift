// Per-task/style/mode metrics with intervals, and stratified accuracy tables, from item records.
import Foundation

public enum Aggregation {
    static func key(_ r: [String: Any]) -> String { "\(r["task"]!)/\(r["style"]!)/\(r["mode"]!)" }

    public static func metrics(_ records: [[String: Any]]) -> [String: Any] {
        var groups: [String: [[String: Any]]] = [:]
        for r in records { groups[key(r), default: []].append(r) }
        var out: [String: Any] = [:]
        for (k, rs) in groups {
            let correct = rs.filter { $0["correct"] as? Bool == true }.count
            let ci = Metrics.wilson(correct, rs.count)
            var m: [String: Any] = ["n": rs.count, "correct": correct, "accuracy": Double(correct) / Double(rs.count),
                                    "accuracy_ci95": [ci.low, ci.high],
                                    "unparseable": rs.filter { Report.isMissing($0["parsed"]) }.count,
                                    "truncated": rs.filter { $0["truncated"] as? Bool == true }.count]
            for name in ["character_accuracy", "levenshtein", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l_precision"] {
                let v = rs.compactMap { $0[name] as? Double }
                guard !v.isEmpty else { continue }
                let b = Metrics.bootstrapMean(v)
                m[name] = v.reduce(0, +) / Double(v.count)
                m[name + "_ci95"] = [b.low, b.high]
            }
            let spelled = rs.compactMap { $0["spelled_word_correctly"] as? Bool }
            if !spelled.isEmpty { m["spelled_word_in_output_rate"] = Double(spelled.filter { $0 }.count) / Double(spelled.count) }
            out[k] = m
        }
        return out
    }

    /// Accuracy by word length, repeated letters, tokens per word, asked position, and the length
    /// of the token holding the asked letter: {group key: {dimension: {bucket: [n, correct]}}}.
    public static func stratified(_ records: [[String: Any]]) -> [String: Any] {
        var out: [String: [String: [String: [Int]]]] = [:]
        for r in records {
            guard let meta = r["metadata"] as? [String: Any] else { continue }
            let ok = r["correct"] as? Bool == true
            for (dim, field) in [("word_length", "word_length"), ("repeated_letters", "repeated_letters"), ("word_tokens", "word_tokens"),
                                 ("position", "position"), ("token_length_at_position", "token_length_at_position")] {
                guard let v = meta[field] as? Int else { continue }
                var cell = out[key(r), default: [:]][dim, default: [:]][String(v), default: [0, 0]]
                cell[0] += 1
                if ok { cell[1] += 1 }
                out[key(r), default: [:]][dim, default: [:]][String(v)] = cell
            }
        }
        return out
    }
}

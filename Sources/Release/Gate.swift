// The deployment decision, as specified: a weighted score of the fine-tuned model's metrics, and
// deploy when the model is the first, or when its score is the highest in history and beats the
// best by more than `min_improvement_threshold`; `--force-deploy` skips the comparison.
import Records

public enum GateError: Error, Equatable, CustomStringConvertible {
    case unknownMetric(String)
    case missingMetric(String, source: String)
    case badWeight(String, Double)
    case noWeights

    public var description: String {
        switch self {
        case .unknownMetric(let m):
            return "weighted_scoring weight '\(m)' names no metric; use bleu1, bleu2, bleu3, bleu4, rougeL_precision or a key of evaluation_results.json (letter_count_accuracy, character_level_accuracy, …)"
        case .missingMetric(let m, let s): return "\(s) has no fine-tuned '\(m)' to score; evaluate the spelling task, or give that metric weight 0"
        case .badWeight(let m, let w): return "weight of '\(m)' is \(w); weights must be finite and ≥ 0"
        case .noWeights: return "every weight is 0: the score would be 0 for every model"
        }
    }
}

public enum Gate {
    /// The specified weights (params.yaml `deployment.weighted_scoring.weights`).
    public static let defaultWeights: [String: Double] = ["bleu1": 0.10, "bleu2": 0.15, "bleu3": 0.25, "bleu4": 0.40, "rougeL_precision": 0.10]
    public static let defaultThreshold = 0.001

    /// params.yaml's weight names for the evaluation_results.json metrics they score.
    static let aliases: [String: String] = ["bleu1": "bleu_1", "bleu2": "bleu_2", "bleu3": "bleu_3", "bleu4": "bleu_4", "rougeL_precision": "rouge_l_precision"]

    /// Σ weight × metric over the fine-tuned model's headline metrics, with each component.
    public static func score(_ m: HeadlineMetrics, weights: [String: Double], source: String) throws(GateError) -> (score: Double, components: [ScoreComponent]) {
        guard weights.values.contains(where: { $0 > 0 }) else { throw .noWeights }
        var components: [ScoreComponent] = []
        for name in weights.keys.sorted() {
            let w = weights[name] ?? 0
            guard w.isFinite, w >= 0 else { throw .badWeight(name, w) }
            let metric = aliases[name] ?? name
            guard knownMetric(metric) else { throw .unknownMetric(name) }
            guard w > 0 else { continue }
            guard let v = m.value(named: metric), v.isFinite else { throw .missingMetric(metric, source: source) }
            components.append(ScoreComponent(metric: metric, value: v, weight: w))
        }
        return (components.reduce(0) { $0 + $1.contribution }, components)
    }

    static func knownMetric(_ name: String) -> Bool {
        ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l_precision", "character_level_accuracy", "levenshtein_distance", "normalized_levenshtein",
         "unparseable_rate", "letter_count_accuracy", "letter_position_accuracy", "spelling_accuracy"].contains(name)
    }

    public enum Outcome: String, Sendable { case firstModel = "first_model", improved, forced, notImproved = "not_improved" }

    /// The decision against the scores of every earlier version.
    public static func decide(score: Double, history: [Double], threshold: Double, force: Bool) -> (outcome: Outcome, reason: String) {
        let best = history.max()
        if force {
            return (.forced, "--force-deploy: deployed without comparing" + (best.map { String(format: " (best earlier score %.6f)", $0) } ?? ""))
        }
        guard let best else { return (.firstModel, "the first model: no earlier version to compare with") }
        if score - best > threshold {
            return (.improved, String(format: "score %.6f beats the best earlier score %.6f by %.6f, more than the threshold %.6f", score, best, score - best, threshold))
        }
        let how = score < best ? "is below" : score == best ? "equals" : "beats, by no more than the threshold,"
        return (.notImproved, String(format: "score %.6f %@ the best earlier score %.6f (threshold %.6f): not deployed", score, how, best, threshold))
    }
}

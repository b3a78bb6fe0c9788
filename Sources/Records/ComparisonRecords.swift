// The files of a comparison (`strawberry compare BASE FINETUNED --out DIR`):
//   comparison.json            Comparison: per group paired tests, transfer, generalisation, trajectory
//   evaluation_results.json    EvaluationResults: {"base_model": {"metrics": …}, "finetuned_model": {"metrics": …}}
//   final_report.json          FinalReport: success criteria, headline metrics, transfer, conclusion

/// Base vs fine-tuned on one task/style/mode group.
public struct GroupComparison: Codable, Equatable, Sendable {
    public var base: GroupMetrics
    public var finetuned: GroupMetrics
    public var accuracyChange: Double
    /// 100 · change / base accuracy; null when the base accuracy is 0 and the change is not.
    @ExplicitNull public var relativeImprovementPercent: Double?
    public var pairedItems: Int
    /// Discordant pairs of the exact McNemar test.
    public var mcnemarBaseOnlyCorrect: Int
    public var mcnemarFinetunedOnlyCorrect: Int
    public var mcnemarP: Double
    /// Spelling groups: change in normalised Levenshtein distance (negative is better).
    public var levenshteinChange: Double?
    public var levenshteinRelativeImprovementPercent: Double?
    /// The fine-tuned model against the strongest trivial baseline on the same items.
    public var finetunedVsBaseline: BaselineTest?

    enum CodingKeys: String, CodingKey {
        case base, finetuned, accuracyChange = "accuracy_change", relativeImprovementPercent = "relative_improvement_percent"
        case pairedItems = "paired_items", mcnemarBaseOnlyCorrect = "mcnemar_base_only_correct"
        case mcnemarFinetunedOnlyCorrect = "mcnemar_finetuned_only_correct", mcnemarP = "mcnemar_p", levenshteinChange = "levenshtein_change"
        case levenshteinRelativeImprovementPercent = "levenshtein_relative_improvement_percent"
        case finetunedVsBaseline = "finetuned_vs_baseline"
    }

    public init(base: GroupMetrics, finetuned: GroupMetrics, accuracyChange: Double, relativeImprovementPercent: Double?, pairedItems: Int,
                mcnemarBaseOnlyCorrect: Int, mcnemarFinetunedOnlyCorrect: Int, mcnemarP: Double) {
        self.base = base
        self.finetuned = finetuned
        self.accuracyChange = accuracyChange
        self.relativeImprovementPercent = relativeImprovementPercent
        self.pairedItems = pairedItems
        self.mcnemarBaseOnlyCorrect = mcnemarBaseOnlyCorrect
        self.mcnemarFinetunedOnlyCorrect = mcnemarFinetunedOnlyCorrect
        self.mcnemarP = mcnemarP
    }
}

/// A model's accuracy against a trivial baseline's on the same items (exact McNemar, or the
/// word-clustered test when items are pooled over prompt styles).
public struct BaselineTest: Codable, Equatable, Sendable {
    public var baseline: String
    public var baselineAccuracy: Double
    public var modelAccuracy: Double
    /// Items the model gets right and the baseline wrong, and the reverse.
    public var modelOnlyCorrect: Int
    public var baselineOnlyCorrect: Int
    public var p: Double
    enum CodingKeys: String, CodingKey {
        case baseline, baselineAccuracy = "baseline_accuracy", modelAccuracy = "model_accuracy"
        case modelOnlyCorrect = "model_only_correct", baselineOnlyCorrect = "baseline_only_correct", p
    }
    public init(baseline: String, baselineAccuracy: Double, modelAccuracy: Double, modelOnlyCorrect: Int, baselineOnlyCorrect: Int, p: Double) {
        self.baseline = baseline
        self.baselineAccuracy = baselineAccuracy
        self.modelAccuracy = modelAccuracy
        self.modelOnlyCorrect = modelOnlyCorrect
        self.baselineOnlyCorrect = baselineOnlyCorrect
        self.p = p
    }
}

/// Per word: does spelling it well go with counting / locating its letters right? phi for exact
/// spelling (binary × binary), and the point-biserial correlation for spelling character accuracy
/// (continuous × binary), which stays defined when exact spelling is (nearly) never right.
public struct Association: Codable, Equatable, Sendable {
    public var words: Int
    @ExplicitNull public var phi: Double?
    public var phiCI95: [Double]?
    /// Why phi is undefined, when it is.
    public var phiNote: String?
    public var pointBiserial: Double?
    public var pointBiserialCI95: [Double]?
    public var pointBiserialNote: String?
    enum CodingKeys: String, CodingKey {
        case words, phi, phiCI95 = "phi_ci95", phiNote = "phi_note"
        case pointBiserial = "point_biserial_character_accuracy", pointBiserialCI95 = "point_biserial_character_accuracy_ci95"
        case pointBiserialNote = "point_biserial_character_accuracy_note"
    }
    public init(words: Int, phi: Double?, phiCI95: [Double]? = nil, phiNote: String? = nil) {
        self.words = words
        self.phi = phi
        self.phiCI95 = phiCI95
        self.phiNote = phiNote
    }
}

/// A number that may be undefined, with the reason when it is, and its 95 % interval when known.
public struct Estimate: Equatable, Sendable {
    public var value: Double?
    public var note: String?
    public var ci95: [Double]?
    public init(value: Double?, note: String? = nil, ci95: [Double]? = nil) { self.value = value; self.note = note; self.ci95 = ci95 }
}

/// Transfer analysis of one style/mode: associations before and after, and transfer efficiency
/// (Δ task accuracy ÷ Δ spelling accuracy, defined only for a significant spelling gain).
public struct TransferAnalysis: Codable, Equatable, Sendable {
    /// task (count, position) → association, for the base and the fine-tuned model.
    public var base: [String: Association] = [:]
    public var finetuned: [String: Association] = [:]
    /// task → efficiency; empty when the run has no spelling group to measure the gain on.
    public var efficiency: [String: Estimate] = [:]
    /// task → Δ task accuracy ÷ Δ spelling character accuracy, defined when the character-accuracy
    /// gain is positive and its word-bootstrap interval excludes 0.
    public var characterEfficiency: [String: Estimate] = [:]

    static let characterSuffix = "_transfer_efficiency_character_accuracy"

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        for key in c.allKeys {
            let k = key.stringValue
            if k.hasSuffix("_association") {
                let parts = k.dropLast("_association".count).split(separator: "_", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                let a = try c.decode(Association.self, forKey: key)
                if parts[0] == "base" { base[parts[1]] = a } else if parts[0] == "finetuned" { finetuned[parts[1]] = a }
            } else if k.hasSuffix("_transfer_efficiency") {
                let task = String(k.dropLast("_transfer_efficiency".count))
                efficiency[task] = Estimate(value: try c.decodeIfPresent(Double.self, forKey: key),
                                            note: try c.decodeIfPresent(String.self, forKey: DynamicKey(k + "_note")))
            } else if k.hasSuffix(Self.characterSuffix) {
                let task = String(k.dropLast(Self.characterSuffix.count))
                characterEfficiency[task] = Estimate(value: try c.decodeIfPresent(Double.self, forKey: key),
                                                     note: try c.decodeIfPresent(String.self, forKey: DynamicKey(k + "_note")),
                                                     ci95: try c.decodeIfPresent([Double].self, forKey: DynamicKey(k + "_ci95")))
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        for (task, a) in base { try c.encode(a, forKey: DynamicKey("base_\(task)_association")) }
        for (task, a) in finetuned { try c.encode(a, forKey: DynamicKey("finetuned_\(task)_association")) }
        for (task, e) in efficiency {
            let key = DynamicKey("\(task)_transfer_efficiency")
            if let v = e.value { try c.encode(v, forKey: key) } else { try c.encodeNil(forKey: key) }
            try c.encodeIfPresent(e.note, forKey: DynamicKey("\(task)_transfer_efficiency_note"))
        }
        for (task, e) in characterEfficiency {
            let key = DynamicKey(task + Self.characterSuffix)
            if let v = e.value { try c.encode(v, forKey: key) } else { try c.encodeNil(forKey: key) }
            try c.encodeIfPresent(e.note, forKey: DynamicKey(key.stringValue + "_note"))
            try c.encodeIfPresent(e.ci95, forKey: DynamicKey(key.stringValue + "_ci95"))
        }
    }
}

/// Spelling accuracy of one run on one held-out set.
public struct SpellingSummary: Codable, Equatable, Sendable {
    public var n: Int
    public var accuracy: Double
    public var accuracyCI95: [Double]
    public var characterAccuracy: Double
    enum CodingKeys: String, CodingKey { case n, accuracy, accuracyCI95 = "accuracy_ci95", characterAccuracy = "character_accuracy" }
    public init(n: Int, accuracy: Double, accuracyCI95: [Double], characterAccuracy: Double) {
        self.n = n
        self.accuracy = accuracy
        self.accuracyCI95 = accuracyCI95
        self.characterAccuracy = characterAccuracy
    }
}

public struct BaseAndFinetuned<T: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var base: T
    public var finetuned: T
    public init(base: T, finetuned: T) { self.base = base; self.finetuned = finetuned }
}

/// Spelling generalisation: held-out vocabulary tokens vs held-out dictionary words.
public struct Generalization: Codable, Equatable, Sendable {
    public var heldoutVocabularyTokens: BaseAndFinetuned<SpellingSummary>
    public var heldoutDictionaryWords: BaseAndFinetuned<SpellingSummary>
    enum CodingKeys: String, CodingKey { case heldoutVocabularyTokens = "heldout_vocabulary_tokens", heldoutDictionaryWords = "heldout_dictionary_words" }
    public init(heldoutVocabularyTokens: BaseAndFinetuned<SpellingSummary>, heldoutDictionaryWords: BaseAndFinetuned<SpellingSummary>) {
        self.heldoutVocabularyTokens = heldoutVocabularyTokens
        self.heldoutDictionaryWords = heldoutDictionaryWords
    }
}

/// Accuracy of each saved checkpoint, and correlations across checkpoints.
public struct Trajectory: Codable, Equatable, Sendable {
    public struct Point: Codable, Equatable, Sendable {
        public var step: Int
        /// spelling, count, position (exact accuracy) and spelling_character_accuracy.
        public var accuracy: [String: Double]
        public init(step: Int, accuracy: [String: Double]) { self.step = step; self.accuracy = accuracy }
    }
    public var checkpoints: [Point]
    /// task (count, position) → Pearson correlation of spelling character accuracy with its accuracy.
    public var correlations: [String: Estimate]

    public init(checkpoints: [Point], correlations: [String: Estimate]) {
        self.checkpoints = checkpoints
        self.correlations = correlations
    }

    static let prefix = "correlation_spelling_character_accuracy_vs_"

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        checkpoints = try c.decode([Point].self, forKey: DynamicKey("checkpoints"))
        correlations = [:]
        for key in c.allKeys where key.stringValue.hasPrefix(Self.prefix) && !key.stringValue.hasSuffix("_note") && !key.stringValue.hasSuffix("_ci95") {
            correlations[String(key.stringValue.dropFirst(Self.prefix.count))] = Estimate(
                value: try c.decodeIfPresent(Double.self, forKey: key), note: try c.decodeIfPresent(String.self, forKey: DynamicKey(key.stringValue + "_note")),
                ci95: try c.decodeIfPresent([Double].self, forKey: DynamicKey(key.stringValue + "_ci95")))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        try c.encode(checkpoints, forKey: DynamicKey("checkpoints"))
        for (task, e) in correlations {
            let key = DynamicKey(Self.prefix + task)
            if let v = e.value { try c.encode(v, forKey: key) } else { try c.encodeNil(forKey: key) }
            try c.encodeIfPresent(e.note, forKey: DynamicKey(key.stringValue + "_note"))
            try c.encodeIfPresent(e.ci95, forKey: DynamicKey(key.stringValue + "_ci95"))
        }
    }
}

/// comparison.json.
public struct Comparison: Codable, Equatable, Sendable {
    /// task/style/mode → comparison.
    public var groups: [String: GroupComparison]
    /// style/mode → transfer analysis.
    public var transfer: [String: TransferAnalysis]
    public var trainingRun: String?
    public var generalization: Generalization?
    public var trajectory: Trajectory?
    /// "base" / "finetuned" → thinking against non-thinking mode, for runs evaluated in both (Qwen3).
    public var modes: [String: ModeComparison]?
    enum CodingKeys: String, CodingKey { case groups, transfer, trainingRun = "training_run", generalization, trajectory, modes }
    public init(groups: [String: GroupComparison], transfer: [String: TransferAnalysis], trainingRun: String?) {
        self.groups = groups
        self.transfer = transfer
        self.trainingRun = trainingRun
    }
}

/// The headline metrics of one model (evaluation_results.json "metrics"), pooled over prompt
/// styles: accuracy per task with interval and n, and the spelling similarity means.
public struct HeadlineMetrics: Codable, Equatable, Sendable {
    /// "letter_count" | "letter_position" | "spelling" → accuracy (written as NAME_accuracy, _ci95, _n).
    public var accuracy: [String: Proportion] = [:]
    public var characterLevelAccuracy: Double?
    /// Mean normalised edit distance (0 = identical, 1 = nothing shared). Written twice: as
    /// `normalized_levenshtein`, and as `levenshtein_distance`, the key of earlier files.
    public var levenshteinDistance: Double?
    public var bleu1: Double?
    public var bleu2: Double?
    public var bleu3: Double?
    public var bleu4: Double?
    public var rougeLPrecision: Double?
    public var unparseableRate: Double = 0

    public static let taskNames = [("count", "letter_count"), ("position", "letter_position"), ("spelling", "spelling")]

    enum Key: String, CaseIterable {
        case characterLevelAccuracy = "character_level_accuracy", levenshteinDistance = "levenshtein_distance"
        case normalizedLevenshtein = "normalized_levenshtein"
        case bleu1 = "bleu_1", bleu2 = "bleu_2", bleu3 = "bleu_3", bleu4 = "bleu_4", rougeLPrecision = "rouge_l_precision"
        case unparseableRate = "unparseable_rate"
    }

    public init() {}

    /// A metric by its JSON name (for weighted scores that name metrics in a config).
    public func value(named name: String) -> Double? {
        for (_, prefix) in Self.taskNames where name == prefix + "_accuracy" { return accuracy[prefix]?.accuracy }
        switch Key(rawValue: name) {
        case .characterLevelAccuracy: return characterLevelAccuracy
        case .levenshteinDistance, .normalizedLevenshtein: return levenshteinDistance
        case .bleu1: return bleu1
        case .bleu2: return bleu2
        case .bleu3: return bleu3
        case .bleu4: return bleu4
        case .rougeLPrecision: return rougeLPrecision
        case .unparseableRate: return unparseableRate
        case nil: return nil
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        for (_, prefix) in Self.taskNames {
            guard let a = try c.decodeUnitIfPresent(DynamicKey(prefix + "_accuracy")) else { continue }
            let n = c.contains(DynamicKey(prefix + "_accuracy_n")) ? try c.decodeCount(DynamicKey(prefix + "_accuracy_n")) : 0
            let ci = c.contains(DynamicKey(prefix + "_accuracy_ci95")) ? try c.decodeUnitInterval(DynamicKey(prefix + "_accuracy_ci95")) : [a, a]
            accuracy[prefix] = Proportion(n: n, correct: Int((a * Double(n)).rounded()), accuracy: a, ci95: ci)
        }
        // Every headline metric is a rate or a score in [0, 1] (the edit distance is normalised).
        func d(_ k: Key) throws -> Double? { try c.decodeUnitIfPresent(DynamicKey(k.rawValue)) }
        characterLevelAccuracy = try d(.characterLevelAccuracy)
        // Both spellings are checked when both are there; the current one wins.
        let (current, earlier) = (try d(.normalizedLevenshtein), try d(.levenshteinDistance))
        levenshteinDistance = current ?? earlier
        bleu1 = try d(.bleu1); bleu2 = try d(.bleu2); bleu3 = try d(.bleu3); bleu4 = try d(.bleu4)
        rougeLPrecision = try d(.rougeLPrecision)
        unparseableRate = try d(.unparseableRate) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        for (prefix, p) in accuracy {
            try c.encode(p.accuracy, forKey: DynamicKey(prefix + "_accuracy"))
            try c.encode(p.ci95, forKey: DynamicKey(prefix + "_accuracy_ci95"))
            try c.encode(p.n, forKey: DynamicKey(prefix + "_accuracy_n"))
        }
        for k in Key.allCases { try c.encodeIfPresent(value(named: k.rawValue), forKey: DynamicKey(k.rawValue)) }
    }
}

/// evaluation_results.json: the schema downstream tools (the release gate, model cards) read.
public struct EvaluationResults: Codable, Equatable, Sendable {
    public struct Model: Codable, Equatable, Sendable {
        public var metrics: HeadlineMetrics
        /// The evaluation directory the metrics came from.
        public var source: String?
        public init(metrics: HeadlineMetrics, source: String?) { self.metrics = metrics; self.source = source }
    }
    public var baseModel: Model
    public var finetunedModel: Model
    /// Trivial baselines on the evaluated questions, pooled over prompt styles:
    /// letter_count / letter_position / spelling → rule → score.
    public var baselines: [String: [String: BaselineScore]]?
    enum CodingKeys: String, CodingKey { case baseModel = "base_model", finetunedModel = "finetuned_model", baselines }
    public init(baseModel: Model, finetunedModel: Model, baselines: [String: [String: BaselineScore]]? = nil) {
        self.baseModel = baseModel
        self.finetunedModel = finetunedModel
        self.baselines = baselines
    }
}

/// Did a task improve over the base model, and significantly; and does the fine-tuned model beat
/// the strongest trivial baseline? Items pooled over prompt styles are tested clustered by word
/// (McNemar for clustered pairs), and the three tasks' p-values are Holm-adjusted as one family.
public struct TaskCriterion: Equatable, Sendable {
    public var improved: Bool
    /// Holm-adjusted p < 0.05 and improved.
    public var improvementSignificant: Bool
    /// Word-clustered McNemar p, unadjusted.
    public var mcnemarP: Double
    public var mcnemarPHolm: Double
    public var accuracyChange: Double
    /// Word-cluster bootstrap 95 % interval of the accuracy change.
    public var accuracyChangeCI95: [Double]?
    /// The strongest trivial baseline on the same items, and the fine-tuned model against it.
    public var bestBaseline: String?
    public var bestBaselineAccuracy: Double?
    public var beatsBestBaseline: Bool?
    /// The fine-tuned accuracy is above the baseline's (significantly or not).
    public var aboveBestBaseline: Bool?
    public var vsBaselinePHolm: Double?

    public init(improved: Bool, improvementSignificant: Bool, mcnemarP: Double, accuracyChange: Double) {
        self.improved = improved
        self.improvementSignificant = improvementSignificant
        self.mcnemarP = mcnemarP
        self.mcnemarPHolm = mcnemarP
        self.accuracyChange = accuracyChange
    }
}

/// final_report.json.
public struct FinalReport: Codable, Equatable, Sendable {
    /// task (count, position, spelling) → criterion; written flat as TASK_improved, TASK_mcnemar_p, …
    public var successCriteria: [String: TaskCriterion]
    public var base: HeadlineMetrics
    public var finetuned: HeadlineMetrics
    public var transfer: [String: TransferAnalysis]
    public var conclusion: String

    enum CodingKeys: String, CodingKey { case successCriteria = "success_criteria", base, finetuned, transfer, conclusion }

    public init(successCriteria: [String: TaskCriterion], base: HeadlineMetrics, finetuned: HeadlineMetrics,
                transfer: [String: TransferAnalysis], conclusion: String) {
        self.successCriteria = successCriteria
        self.base = base
        self.finetuned = finetuned
        self.transfer = transfer
        self.conclusion = conclusion
    }

    struct Criteria: Codable {
        var byTask: [String: TaskCriterion]
        static let fields = ["improved", "improvement_significant", "mcnemar_p", "accuracy_change"]
        init(_ byTask: [String: TaskCriterion]) { self.byTask = byTask }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: DynamicKey.self)
            byTask = [:]
            for key in c.allKeys where key.stringValue.hasSuffix("_improved") {
                let t = String(key.stringValue.dropLast("_improved".count))
                func k(_ s: String) -> DynamicKey { DynamicKey(t + s) }
                var tc = TaskCriterion(improved: try c.decode(Bool.self, forKey: key),
                                       improvementSignificant: try c.decode(Bool.self, forKey: k("_improvement_significant")),
                                       mcnemarP: try c.decodeUnit(k("_mcnemar_p")),
                                       accuracyChange: try c.decode(Double.self, forKey: k("_accuracy_change")))
                guard (-1...1).contains(tc.accuracyChange) else {
                    throw c.refuse(k("_accuracy_change"), "expected a change of accuracy in [-1, 1], found \(tc.accuracyChange)")
                }
                tc.mcnemarPHolm = try c.decodeUnitIfPresent(k("_mcnemar_p_holm")) ?? tc.mcnemarP
                tc.accuracyChangeCI95 = try c.decodeIfPresent([Double].self, forKey: k("_accuracy_change_ci95"))
                tc.bestBaseline = try c.decodeIfPresent(String.self, forKey: k("_best_baseline"))
                tc.bestBaselineAccuracy = try c.decodeUnitIfPresent(k("_best_baseline_accuracy"))
                tc.beatsBestBaseline = try c.decodeIfPresent(Bool.self, forKey: k("_beats_best_baseline"))
                tc.aboveBestBaseline = try c.decodeIfPresent(Bool.self, forKey: k("_above_best_baseline"))
                tc.vsBaselinePHolm = try c.decodeUnitIfPresent(k("_vs_best_baseline_p_holm"))
                byTask[t] = tc
            }
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: DynamicKey.self)
            for (t, k) in byTask {
                try c.encode(k.improved, forKey: DynamicKey(t + "_improved"))
                try c.encode(k.improvementSignificant, forKey: DynamicKey(t + "_improvement_significant"))
                try c.encode(k.mcnemarP, forKey: DynamicKey(t + "_mcnemar_p"))
                try c.encode(k.accuracyChange, forKey: DynamicKey(t + "_accuracy_change"))
                try c.encode(k.mcnemarPHolm, forKey: DynamicKey(t + "_mcnemar_p_holm"))
                try c.encodeIfPresent(k.accuracyChangeCI95, forKey: DynamicKey(t + "_accuracy_change_ci95"))
                try c.encodeIfPresent(k.bestBaseline, forKey: DynamicKey(t + "_best_baseline"))
                try c.encodeIfPresent(k.bestBaselineAccuracy, forKey: DynamicKey(t + "_best_baseline_accuracy"))
                try c.encodeIfPresent(k.beatsBestBaseline, forKey: DynamicKey(t + "_beats_best_baseline"))
                try c.encodeIfPresent(k.aboveBestBaseline, forKey: DynamicKey(t + "_above_best_baseline"))
                try c.encodeIfPresent(k.vsBaselinePHolm, forKey: DynamicKey(t + "_vs_best_baseline_p_holm"))
            }
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        successCriteria = try c.decode(Criteria.self, forKey: .successCriteria).byTask
        base = try c.decode(HeadlineMetrics.self, forKey: .base)
        finetuned = try c.decode(HeadlineMetrics.self, forKey: .finetuned)
        transfer = try c.decode([String: TransferAnalysis].self, forKey: .transfer)
        conclusion = try c.decode(String.self, forKey: .conclusion)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Criteria(successCriteria), forKey: .successCriteria)
        try c.encode(base, forKey: .base)
        try c.encode(finetuned, forKey: .finetuned)
        try c.encode(transfer, forKey: .transfer)
        try c.encode(conclusion, forKey: .conclusion)
    }
}


/// Thinking against non-thinking mode in one evaluation run (`eval --modes non-thinking,thinking`):
/// per task, pooled over prompt styles, every thinking sample paired with the non-thinking answer
/// to the same question, and what each mode costs in generated tokens.
public struct ModeComparison: Codable, Equatable, Sendable {
    /// task (spelling, count, position) → comparison.
    public var tasks: [String: ModeTaskComparison]
    public init(tasks: [String: ModeTaskComparison]) { self.tasks = tasks }
}

public struct ModeTaskComparison: Codable, Equatable, Sendable {
    public var nonThinking: Proportion
    public var thinking: Proportion
    /// Thinking answers paired with a non-thinking answer to the same question (the same sample when
    /// both modes were sampled; the one greedy answer otherwise).
    public var pairedItems: Int
    /// Thinking − non-thinking accuracy over the paired items.
    public var accuracyChange: Double
    /// Word-cluster bootstrap interval of the change.
    public var accuracyChangeCI95: [Double]?
    /// Exact McNemar test clustered by word (a word's styles and samples are not independent).
    public var mcnemarP: Double
    /// Holm-adjusted over the run's tasks.
    public var mcnemarPHolm: Double
    /// Mean generated tokens per answer with a bootstrap interval; absent when the items do not record them.
    public var nonThinkingTokens: Mean?
    public var thinkingTokens: Mean?
    public var nonThinkingTruncated: Int
    public var thinkingTruncated: Int

    enum CodingKeys: String, CodingKey {
        case nonThinking = "non_thinking", thinking, pairedItems = "paired_items", accuracyChange = "accuracy_change"
        case accuracyChangeCI95 = "accuracy_change_ci95", mcnemarP = "mcnemar_p", mcnemarPHolm = "mcnemar_p_holm"
        case nonThinkingTokens = "non_thinking_tokens", thinkingTokens = "thinking_tokens"
        case nonThinkingTruncated = "non_thinking_truncated", thinkingTruncated = "thinking_truncated"
    }

    public init(nonThinking: Proportion, thinking: Proportion, pairedItems: Int, accuracyChange: Double, accuracyChangeCI95: [Double]?,
                mcnemarP: Double, mcnemarPHolm: Double, nonThinkingTokens: Mean?, thinkingTokens: Mean?, nonThinkingTruncated: Int, thinkingTruncated: Int) {
        self.nonThinking = nonThinking
        self.thinking = thinking
        self.pairedItems = pairedItems
        self.accuracyChange = accuracyChange
        self.accuracyChangeCI95 = accuracyChangeCI95
        self.mcnemarP = mcnemarP
        self.mcnemarPHolm = mcnemarPHolm
        self.nonThinkingTokens = nonThinkingTokens
        self.thinkingTokens = thinkingTokens
        self.nonThinkingTruncated = nonThinkingTruncated
        self.thinkingTruncated = thinkingTruncated
    }
}

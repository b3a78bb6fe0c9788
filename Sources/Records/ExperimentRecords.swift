// The files of `strawberry experiment report`:
//   experiment.json   ExperimentReport: dose–response points per measure and arm, the arm contrasts
//                     with their word-clustered intervals, and the conclusions stated against the
//                     smallest effect of interest fixed in the spec
//   report.md         the same as prose and tables; dose_*.svg the curves

/// One point of a dose–response curve: a measure after `step` training steps (0: the base model),
/// pooled over the seeds trained so far. `ci95` is the Wilson interval of the pooled items (items
/// treated as independent: descriptive; the contrasts carry the word-clustered intervals).
public struct DosePoint: Codable, Equatable, Sendable {
    public var step: Int
    public var n: Int
    public var accuracy: Double
    public var ci95: [Double]
    /// Count and position answers: balanced accuracy (mean over seeds of the mean per-class accuracy).
    public var balancedAccuracy: Double?
    public var seeds: Int

    enum CodingKeys: String, CodingKey { case step, n, accuracy, ci95, balancedAccuracy = "balanced_accuracy", seeds }

    public init(step: Int, n: Int, accuracy: Double, ci95: [Double], balancedAccuracy: Double?, seeds: Int) {
        self.step = step
        self.n = n
        self.accuracy = accuracy
        self.ci95 = ci95
        self.balancedAccuracy = balancedAccuracy
        self.seeds = seeds
    }
}

/// The seed-level view of a contrast: each seed's accuracy is one replicate, a − b by Welch's t
/// (a one-sample t against the base model, which has no seeds).
public struct SeedLevelTest: Codable, Equatable, Sendable {
    /// Seeds on each side (the base model counts as one).
    public var seeds: [Int]
    /// Each seed's value on side a, then on side b (seed order of the spec).
    public var values: [[Double]]
    public var difference: Double
    public var df: Double
    public var p: Double
    public var ci95: [Double]
    public var ci90: [Double]
    public var ci975: [Double]

    public init(seeds: [Int], values: [[Double]], difference: Double, df: Double, p: Double, ci95: [Double], ci90: [Double], ci975: [Double]) {
        self.seeds = seeds
        self.values = values
        self.difference = difference
        self.df = df
        self.p = p
        self.ci95 = ci95
        self.ci90 = ci90
        self.ci975 = ci975
    }
}

/// a − b on one measure: per item the outcome averaged over seeds, the mean difference over items
/// both arms answered, intervals by resampling whole words; and the same difference with the seeds
/// as replicates where a has two or more.
public struct ArmContrast: Codable, Equatable, Sendable {
    public var measure: String
    public var split: String
    public var a: String
    public var b: String
    public var step: Int
    public var items: Int
    public var words: Int
    public var difference: Double
    @ExplicitNull public var ci95: [Double]?
    @ExplicitNull public var ci90: [Double]?
    /// The word-clustered 97.5 % interval: the transfer rule's, two tasks sharing α = 5 %.
    @ExplicitNull public var ci975: [Double]?
    /// above | below | equivalent | inconclusive (word-clustered intervals against ±sesoi; see `ExperimentReport.sesoi`).
    public var verdict: String
    @ExplicitNull public var seedLevel: SeedLevelTest?

    enum CodingKeys: String, CodingKey { case measure, split, a, b, step, items, words, difference, ci95, ci90, ci975, verdict, seedLevel = "seed_level" }

    public init(measure: String, split: String, a: String, b: String, step: Int, items: Int, words: Int, difference: Double,
                ci95: [Double]?, ci90: [Double]?, ci975: [Double]? = nil, verdict: String, seedLevel: SeedLevelTest? = nil) {
        self.measure = measure
        self.split = split
        self.a = a
        self.b = b
        self.step = step
        self.items = items
        self.words = words
        self.difference = difference
        self.ci95 = ci95
        self.ci90 = ci90
        self.ci975 = ci975
        self.verdict = verdict
        self.seedLevel = seedLevel
    }
}

/// The answer to the experiment's question, by the rule fixed in the spec's analysis (see
/// Experiment/Analysis.swift): per task, and overall.
public struct TransferConclusion: Codable, Equatable, Sendable {
    public struct Task: Codable, Equatable, Sendable {
        public var task: String
        /// transfer | negative | equivalent | inconclusive
        public var verdict: String
        /// The contrasts the verdict rests on (measure names).
        public var measures: [String]
        public init(task: String, verdict: String, measures: [String]) {
            self.task = task
            self.verdict = verdict
            self.measures = measures
        }
    }
    public var a: String
    public var b: String
    public var split: String
    public var step: Int
    public var tasks: [Task]
    /// transfer shown | no transfer beyond ±sesoi | inconclusive
    public var overall: String
    public var statement: String

    public init(a: String, b: String, split: String, step: Int, tasks: [Task], overall: String, statement: String) {
        self.a = a
        self.b = b
        self.split = split
        self.step = step
        self.tasks = tasks
        self.overall = overall
        self.statement = statement
    }
}

/// What the report shows beside the answer, not part of it: for one split, each arm (and the base
/// model) pooled over its seeds at the final budget.
public struct SecondaryOutcomes: Codable, Equatable, Sendable {
    /// arm → evaluation group → share of generated answers from which no answer could be read.
    public var unparseable: [String: [String: Double]]
    /// arm → "word_length" | "word_tokens" → stratum → [items, exact spellings] (direct spelling prompts).
    public var spellingBy: [String: [String: [String: [Int]]]]
    /// arm → task → per (seed, word): spelled right (direct) against answered right (likelihood where
    /// scored, else generated; direct), phi with a word-clustered interval, or why it is undefined.
    public var association: [String: [String: Association]]

    enum CodingKeys: String, CodingKey { case unparseable, spellingBy = "spelling_by", association }

    public init(unparseable: [String: [String: Double]], spellingBy: [String: [String: [String: [Int]]]], association: [String: [String: Association]]) {
        self.unparseable = unparseable
        self.spellingBy = spellingBy
        self.association = association
    }
}

public struct ExperimentReport: Codable, Equatable, Sendable {
    public var name: String
    public var model: String
    /// The spec's `model_note` (what the model file is, in words).
    public var modelNote: String? = nil
    /// The base weights' precision in every evaluation ("bf16", "f32"; they must agree).
    public var weights: String? = nil
    public var arms: [String]
    /// Seeds whose every stage was complete when the report was written.
    public var seeds: [UInt64]
    public var checkpoints: [Int]
    public var sesoi: Double
    /// measure → arm → points (base model at step 0).
    public var doseResponse: [String: [String: [DosePoint]]]
    public var contrasts: [ArmContrast]
    public var conclusions: [String]
    /// The primary outcome on test (nil until every file it needs exists).
    @ExplicitNull public var transfer: TransferConclusion?
    /// split → the secondary outcomes at the final budget.
    public var secondary: [String: SecondaryOutcomes] = [:]
    /// split → measure (as the contrasts name it) → arm or "base" → its level at the final budget,
    /// pooled over the arm's seeds (`balanced_accuracy`: the balanced measures' value).
    public var levels: [String: [String: [String: DosePoint]]] = [:]

    enum CodingKeys: String, CodingKey { case name, model, modelNote = "model_note", weights, arms, seeds, checkpoints, sesoi, doseResponse = "dose_response", contrasts, conclusions, transfer, secondary, levels }

    public init(name: String, model: String, modelNote: String? = nil, weights: String? = nil, arms: [String], seeds: [UInt64], checkpoints: [Int], sesoi: Double,
                doseResponse: [String: [String: [DosePoint]]], contrasts: [ArmContrast], conclusions: [String], transfer: TransferConclusion? = nil,
                secondary: [String: SecondaryOutcomes] = [:], levels: [String: [String: [String: DosePoint]]] = [:]) {
        self.name = name
        self.model = model
        self.modelNote = modelNote
        self.weights = weights
        self.arms = arms
        self.seeds = seeds
        self.checkpoints = checkpoints
        self.sesoi = sesoi
        self.doseResponse = doseResponse
        self.contrasts = contrasts
        self.conclusions = conclusions
        self.transfer = transfer
        self.secondary = secondary
        self.levels = levels
    }
}

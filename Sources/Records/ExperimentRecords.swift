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
    /// Count measures: balanced accuracy (mean over seeds of the mean per-class accuracy).
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

/// a − b on one measure: per item the outcome averaged over seeds, the mean difference over items
/// both arms answered, intervals by resampling whole words.
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
    /// above | below | equivalent | inconclusive (against ±sesoi; see `ExperimentReport.sesoi`).
    public var verdict: String

    public init(measure: String, split: String, a: String, b: String, step: Int, items: Int, words: Int, difference: Double,
                ci95: [Double]?, ci90: [Double]?, verdict: String) {
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
        self.verdict = verdict
    }
}

public struct ExperimentReport: Codable, Equatable, Sendable {
    public var name: String
    public var model: String
    public var arms: [String]
    /// Seeds whose every stage was complete when the report was written.
    public var seeds: [UInt64]
    public var checkpoints: [Int]
    public var sesoi: Double
    /// measure → arm → points (base model at step 0).
    public var doseResponse: [String: [String: [DosePoint]]]
    public var contrasts: [ArmContrast]
    public var conclusions: [String]

    enum CodingKeys: String, CodingKey { case name, model, arms, seeds, checkpoints, sesoi, doseResponse = "dose_response", contrasts, conclusions }

    public init(name: String, model: String, arms: [String], seeds: [UInt64], checkpoints: [Int], sesoi: Double,
                doseResponse: [String: [String: [DosePoint]]], contrasts: [ArmContrast], conclusions: [String]) {
        self.name = name
        self.model = model
        self.arms = arms
        self.seeds = seeds
        self.checkpoints = checkpoints
        self.sesoi = sesoi
        self.doseResponse = doseResponse
        self.contrasts = contrasts
        self.conclusions = conclusions
    }
}

// The file of a multi-seed summary (`strawberry aggregate REPORT_DIR... --out DIR`):
//   summary.json   SeedSummary: each headline metric, group accuracy and test over the reports
//                  (one per training seed), as mean, standard deviation, minimum and maximum

/// One number measured once per report: its values and their spread.
public struct Spread: Codable, Equatable, Sendable {
    public var values: [Double]
    public var mean: Double
    /// Sample standard deviation (n − 1); 0 for a single value.
    public var sd: Double
    public var min: Double
    public var max: Double

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        self.values = values
        let m = values.reduce(0, +) / Double(values.count)
        mean = m
        sd = values.count > 1 ? (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot() : 0
        min = values.min() ?? m
        max = values.max() ?? m
    }
}

/// One task/style/mode group over the reports.
public struct GroupSpread: Codable, Equatable, Sendable {
    /// The base model's accuracy (the same questions in every report).
    public var base: Double
    public var finetuned: Spread
    public var change: Spread
    /// Exact McNemar p of each report.
    public var mcnemarP: [Double]
    /// The strongest trivial baseline of these items and its accuracy.
    public var bestBaseline: String?
    public var bestBaselineAccuracy: Double?
    enum CodingKeys: String, CodingKey {
        case base, finetuned, change, mcnemarP = "mcnemar_p", bestBaseline = "best_baseline", bestBaselineAccuracy = "best_baseline_accuracy"
    }
    public init(base: Double, finetuned: Spread, change: Spread, mcnemarP: [Double], bestBaseline: String?, bestBaselineAccuracy: Double?) {
        self.base = base
        self.finetuned = finetuned
        self.change = change
        self.mcnemarP = mcnemarP
        self.bestBaseline = bestBaseline
        self.bestBaselineAccuracy = bestBaselineAccuracy
    }
}

/// A task's conclusion over the reports: how many seeds improved significantly over the base
/// model, and how many beat the strongest trivial baseline.
public struct CriterionCount: Codable, Equatable, Sendable {
    public var reports: Int
    public var improved: Int
    public var improvedSignificantly: Int
    public var beatsBestBaseline: Int
    public var mcnemarPHolm: [Double]
    enum CodingKeys: String, CodingKey {
        case reports, improved, improvedSignificantly = "improved_significantly", beatsBestBaseline = "beats_best_baseline", mcnemarPHolm = "mcnemar_p_holm"
    }
    public init(reports: Int, improved: Int, improvedSignificantly: Int, beatsBestBaseline: Int, mcnemarPHolm: [Double]) {
        self.reports = reports
        self.improved = improved
        self.improvedSignificantly = improvedSignificantly
        self.beatsBestBaseline = beatsBestBaseline
        self.mcnemarPHolm = mcnemarPHolm
    }
}

/// summary.json.
public struct SeedSummary: Codable, Equatable, Sendable {
    /// The report directories, in the order given.
    public var reports: [String]
    public var base: HeadlineMetrics
    /// Headline metric name (as in evaluation_results.json) → spread over the fine-tuned models.
    public var finetuned: [String: Spread]
    public var groups: [String: GroupSpread]
    public var baselines: [String: [String: BaselineScore]]
    public var criteria: [String: CriterionCount]
    /// style/mode → "base_count_point_biserial", "finetuned_position_phi", … → spread.
    public var transfer: [String: [String: Spread]]
    public init(reports: [String], base: HeadlineMetrics, finetuned: [String: Spread], groups: [String: GroupSpread],
                baselines: [String: [String: BaselineScore]], criteria: [String: CriterionCount], transfer: [String: [String: Spread]]) {
        self.reports = reports
        self.base = base
        self.finetuned = finetuned
        self.groups = groups
        self.baselines = baselines
        self.criteria = criteria
        self.transfer = transfer
    }
}

// The files of the release gate (`strawberry deploy --output-dir DIR`):
//   deployment_info.json    DeploymentInfo: the decision, its reason, the score, the version registered
//   model_comparison.json   ModelComparison: score components, weights, the history ranked

/// One metric's part of the weighted score.
public struct ScoreComponent: Codable, Equatable, Sendable {
    /// The metric's name in evaluation_results.json (bleu_1, rouge_l_precision, letter_count_accuracy, …).
    public var metric: String
    public var value: Double
    public var weight: Double
    public var contribution: Double
    public init(metric: String, value: Double, weight: Double) {
        self.metric = metric
        self.value = value
        self.weight = weight
        contribution = value * weight
    }
}

/// A registered version in the history the decision compared against.
public struct HistoryEntry: Codable, Equatable, Sendable {
    public var version: Int
    public var score: Double
    public var stage: String
    public var aliases: [String]
    public init(version: Int, score: Double, stage: String, aliases: [String]) {
        self.version = version
        self.score = score
        self.stage = stage
        self.aliases = aliases
    }
}

/// A stage change the deployment made.
public struct StageChange: Codable, Equatable, Sendable {
    public var version: Int
    public var from: String
    public var to: String
    public init(version: Int, from: String, to: String) { self.version = version; self.from = from; self.to = to }
}

/// deployment_info.json.
public struct DeploymentInfo: Codable, Equatable, Sendable {
    public var deployed: Bool
    /// first_model | improved | forced | not_improved
    public var decision: String
    public var reason: String
    public var score: Double
    @ExplicitNull public var previousBestScore: Double?
    @ExplicitNull public var previousBestVersion: Int?
    public var minImprovementThreshold: Double
    public var modelName: String
    @ExplicitNull public var registeredVersion: Int?
    public var stageChanges: [StageChange]
    /// skipped (--skip-hf-push or push_to_hub false) | not_deployed | "pushed to REPO[/PATH] (commit SHA)" | "push failed: …" | "not pushed: …"
    public var huggingFace: String
    public var evaluationResults: String
    public var adapter: String
    public var adapterSHA256: String

    enum CodingKeys: String, CodingKey {
        case deployed, decision, reason, score, previousBestScore = "previous_best_score", previousBestVersion = "previous_best_version"
        case minImprovementThreshold = "min_improvement_threshold", modelName = "model_name", registeredVersion = "registered_version"
        case stageChanges = "stage_changes", huggingFace = "hugging_face", evaluationResults = "evaluation_results", adapter
        case adapterSHA256 = "adapter_sha256"
    }

    public init(deployed: Bool, decision: String, reason: String, score: Double, previousBestScore: Double?, previousBestVersion: Int?,
                minImprovementThreshold: Double, modelName: String, registeredVersion: Int?, stageChanges: [StageChange], huggingFace: String,
                evaluationResults: String, adapter: String, adapterSHA256: String) {
        self.deployed = deployed
        self.decision = decision
        self.reason = reason
        self.score = score
        self.previousBestScore = previousBestScore
        self.previousBestVersion = previousBestVersion
        self.minImprovementThreshold = minImprovementThreshold
        self.modelName = modelName
        self.registeredVersion = registeredVersion
        self.stageChanges = stageChanges
        self.huggingFace = huggingFace
        self.evaluationResults = evaluationResults
        self.adapter = adapter
        self.adapterSHA256 = adapterSHA256
    }
}

/// model_comparison.json.
public struct ModelComparison: Codable, Equatable, Sendable {
    public var score: Double
    public var components: [ScoreComponent]
    public var weights: [String: Double]
    /// Earlier versions, best score first.
    public var history: [HistoryEntry]
    public init(score: Double, components: [ScoreComponent], weights: [String: Double], history: [HistoryEntry]) {
        self.score = score
        self.components = components
        self.weights = weights
        self.history = history
    }
}

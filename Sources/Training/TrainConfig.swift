// Training configuration: one value type decoded from YAML, with `--set key=value` overrides
// (dotted keys reach into `lora`), saved resolved into every run directory.
import Foundation
import Yams

public struct TrainConfig: Codable, Equatable, Sendable {
    public var model = "assets/SmolLM2-135M-Instruct.Q4_1.gguf"
    public var data = "out/data-smollm2"
    public var outputDir = "runs/smollm2-spelling"
    /// Optimizer steps; ≤ 0 means train `num_epochs` epochs.
    public var maxSteps = 200
    public var numEpochs = 1.0
    public var learningRate: Double = 2e-4
    public var batchSize = 8
    public var gradientAccumulationSteps = 1
    public var lrScheduler: LRSchedule = .cosine
    public var warmupSteps = 10
    public var weightDecay: Double = 0
    public var maxGradNorm: Double = 1
    public var adamBeta1: Double = 0.9
    public var adamBeta2: Double = 0.999
    public var adamEpsilon: Double = 1e-8
    public var seed: UInt64 = 42
    /// Longest tokenised example kept (longer ones are truncated).
    public var maxLength = 128
    /// Loss on prompt tokens too (default: completion only).
    public var trainOnPrompt = false
    /// Wrap prompt/completion pairs in the model's chat template (if it has one).
    public var chatTemplate = true
    /// Qwen3: render prompts with enable_thinking (false = the empty think block of non-thinking mode).
    public var enableThinking: Bool? = false
    public var loggingSteps = 10
    public var evalSteps = 50
    /// Validation examples used for eval_loss.
    public var evalSamples = 64
    /// Validation prompts generated greedily for the spelling exact-match check.
    public var generationCheckSamples = 16
    public var saveSteps = 100
    public var saveTotalLimit = 2
    public var lora = LoRAConfig(r: 16, alpha: 32, dropout: 0.05, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"])

    enum CodingKeys: String, CodingKey {
        case model, data, outputDir = "output_dir", maxSteps = "max_steps", numEpochs = "num_epochs", learningRate = "learning_rate"
        case batchSize = "batch_size", gradientAccumulationSteps = "gradient_accumulation_steps", lrScheduler = "lr_scheduler"
        case warmupSteps = "warmup_steps", weightDecay = "weight_decay", maxGradNorm = "max_grad_norm", adamBeta1 = "adam_beta1"
        case adamBeta2 = "adam_beta2", adamEpsilon = "adam_epsilon", seed, maxLength = "max_length", trainOnPrompt = "train_on_prompt"
        case chatTemplate = "chat_template", enableThinking = "enable_thinking", loggingSteps = "logging_steps", evalSteps = "eval_steps"
        case evalSamples = "eval_samples", generationCheckSamples = "generation_check_samples", saveSteps = "save_steps"
        case saveTotalLimit = "save_total_limit", lora
    }

    public init() {}

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self), x = TrainConfig()
        func v<T: Decodable>(_ k: CodingKeys, _ dflt: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? dflt }
        model = try v(.model, x.model); data = try v(.data, x.data); outputDir = try v(.outputDir, x.outputDir)
        maxSteps = try v(.maxSteps, x.maxSteps); numEpochs = try v(.numEpochs, x.numEpochs); learningRate = try v(.learningRate, x.learningRate)
        batchSize = try v(.batchSize, x.batchSize); gradientAccumulationSteps = try v(.gradientAccumulationSteps, x.gradientAccumulationSteps)
        lrScheduler = try v(.lrScheduler, x.lrScheduler); warmupSteps = try v(.warmupSteps, x.warmupSteps)
        weightDecay = try v(.weightDecay, x.weightDecay); maxGradNorm = try v(.maxGradNorm, x.maxGradNorm)
        adamBeta1 = try v(.adamBeta1, x.adamBeta1); adamBeta2 = try v(.adamBeta2, x.adamBeta2); adamEpsilon = try v(.adamEpsilon, x.adamEpsilon)
        seed = try v(.seed, x.seed); maxLength = try v(.maxLength, x.maxLength); trainOnPrompt = try v(.trainOnPrompt, x.trainOnPrompt)
        chatTemplate = try v(.chatTemplate, x.chatTemplate)
        enableThinking = c.contains(.enableThinking) ? try c.decodeIfPresent(Bool.self, forKey: .enableThinking) : x.enableThinking
        loggingSteps = try v(.loggingSteps, x.loggingSteps); evalSteps = try v(.evalSteps, x.evalSteps)
        evalSamples = try v(.evalSamples, x.evalSamples); generationCheckSamples = try v(.generationCheckSamples, x.generationCheckSamples)
        saveSteps = try v(.saveSteps, x.saveSteps); saveTotalLimit = try v(.saveTotalLimit, x.saveTotalLimit)
        lora = try v(.lora, x.lora)
    }

    static let keys = Set(["model", "data", "output_dir", "max_steps", "num_epochs", "learning_rate", "batch_size", "gradient_accumulation_steps",
                           "lr_scheduler", "warmup_steps", "weight_decay", "max_grad_norm", "adam_beta1", "adam_beta2", "adam_epsilon", "seed",
                           "max_length", "train_on_prompt", "chat_template", "enable_thinking", "logging_steps", "eval_steps", "eval_samples",
                           "generation_check_samples", "save_steps", "save_total_limit", "lora"])
    static let loraKeys = Set(["r", "alpha", "dropout", "target_modules", "use_rslora"])

    /// Reads YAML (if a path is given) and applies `key=value` overrides; unknown keys are errors.
    public static func resolve(yamlPath: String?, overrides: [String]) throws -> TrainConfig {
        var tree: [String: Any] = [:]
        if let yamlPath {
            guard let text = try? String(contentsOfFile: yamlPath, encoding: .utf8) else { throw LoRAError(message: "cannot read config \(yamlPath)") }
            do { tree = (try Yams.load(yaml: text) as? [String: Any]) ?? [:] } catch { throw LoRAError(message: "\(yamlPath): not valid YAML: \(error)") }
        }
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else { throw LoRAError(message: "--set expects key=value, got '\(o)'") }
            let key = String(o[..<eq]), raw = String(o[o.index(after: eq)...])
            let value: Any = (try? Yams.load(yaml: raw)).flatMap { $0 } ?? raw
            let parts = key.split(separator: ".").map(String.init)
            if parts.count == 2, parts[0] == "lora" {
                var l = tree["lora"] as? [String: Any] ?? [:]
                l[parts[1]] = value
                tree["lora"] = l
            } else if parts.count == 1 {
                tree[key] = value
            } else { throw LoRAError(message: "unknown key '\(key)'") }
        }
        let unknown = tree.keys.filter { !keys.contains($0) } + ((tree["lora"] as? [String: Any])?.keys.filter { !loraKeys.contains($0) }.map { "lora.\($0)" } ?? [])
        guard unknown.isEmpty else { throw LoRAError(message: "unknown config keys: \(unknown.sorted().joined(separator: ", "))") }
        do {
            let yaml = try Yams.dump(object: tree)
            return try YAMLDecoder().decode(TrainConfig.self, from: yaml.isEmpty || tree.isEmpty ? "{}" : yaml)
        } catch { throw LoRAError(message: "bad training config: \(error)") }
    }

    public func validate() throws {
        func bad(_ s: String) -> LoRAError { LoRAError(message: "config: \(s)") }
        guard batchSize > 0, gradientAccumulationSteps > 0 else { throw bad("batch_size and gradient_accumulation_steps must be positive") }
        guard maxSteps > 0 || numEpochs > 0 else { throw bad("set max_steps or num_epochs") }
        guard learningRate > 0 else { throw bad("learning_rate must be positive") }
        guard maxLength >= 4 else { throw bad("max_length must be at least 4") }
        guard lora.r > 0, lora.dropout >= 0, lora.dropout < 1 else { throw bad("lora.r > 0 and 0 ≤ lora.dropout < 1") }
    }

    /// The resolved configuration as YAML (saved with every run).
    public func yaml() throws -> String { try YAMLEncoder().encode(self) }
}

extension LoRAConfig {
    enum CodingKeys: String, CodingKey { case r, alpha, dropout, targetModules = "target_modules", useRSLoRA = "use_rslora" }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self), x = LoRAConfig()
        r = try c.decodeIfPresent(Int.self, forKey: .r) ?? x.r
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? x.alpha
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? x.dropout
        if let one = try? c.decodeIfPresent(String.self, forKey: .targetModules) { targetModules = [one] }
        else { targetModules = try c.decodeIfPresent([String].self, forKey: .targetModules) ?? x.targetModules }
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? x.useRSLoRA
    }
}

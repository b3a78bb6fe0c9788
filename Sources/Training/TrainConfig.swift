// Training configuration: one value type decoded from YAML, with `--set key=value` overrides
// (dotted keys reach into `lora`), saved resolved into every run directory.
import Adapters
import ConfigFiles
import Foundation
import Models
import Records
import Yams

/// The precision training holds the frozen base model in.
public enum TrainingPrecision: String, Codable, Sendable, CaseIterable {
    case f32, bf16

    /// The weight format the model is loaded in.
    public var weights: WeightPrecision { self == .bf16 ? .bf16 : .f32 }
}

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
    /// Written as `null` when unset, so a resumed run reads back "template default", not false.
    @ExplicitNull public var enableThinking: Bool? = false
    public var loggingSteps = 10
    public var evalSteps = 50
    /// Validation examples used for eval_loss.
    public var evalSamples = 64
    /// Validation prompts generated greedily for the spelling exact-match check.
    public var generationCheckSamples = 16
    public var saveSteps = 100
    public var saveTotalLimit = 2
    /// Steps that also get a checkpoint, kept whatever `save_total_limit` says (the budgets of a
    /// dose–response curve). nil or empty: none.
    public var saveAt: [Int]? = nil
    public var lora = LoRAConfig(r: 16, alpha: 32, dropout: 0.05, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"])
    /// A PEFT adapter directory to start from instead of the seeded initialisation (a run of either
    /// engine continued as a new run: weights only, fresh optimizer). Its rank, alpha and layers must
    /// be the config's `lora`.
    public var initAdapter: String? = nil
    /// How the frozen base weights are held: f32, or bf16 (half the memory; products still accumulate
    /// in float32, and the LoRA factors, their gradients, AdamW's moments, norms and the loss stay float32).
    public var precision: TrainingPrecision = .f32
    /// Where steps are streamed while training (as transformers' `report_to`): ["wandb"], or nil (none).
    /// The YAML takes a name or a list; `none` means nothing. Written back only when set.
    public var reportTo: [String]? = nil
    public static let reportTargets: Set<String> = ["wandb", "none"]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, data, outputDir = "output_dir", maxSteps = "max_steps", numEpochs = "num_epochs", learningRate = "learning_rate"
        case batchSize = "batch_size", gradientAccumulationSteps = "gradient_accumulation_steps", lrScheduler = "lr_scheduler"
        case warmupSteps = "warmup_steps", weightDecay = "weight_decay", maxGradNorm = "max_grad_norm", adamBeta1 = "adam_beta1"
        case adamBeta2 = "adam_beta2", adamEpsilon = "adam_epsilon", seed, maxLength = "max_length", trainOnPrompt = "train_on_prompt"
        case chatTemplate = "chat_template", enableThinking = "enable_thinking", loggingSteps = "logging_steps", evalSteps = "eval_steps"
        case evalSamples = "eval_samples", generationCheckSamples = "generation_check_samples", saveSteps = "save_steps"
        case saveTotalLimit = "save_total_limit", lora, initAdapter = "init_adapter", saveAt = "save_at"
        case precision, reportTo = "report_to"
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
        saveAt = try c.decodeIfPresent([Int].self, forKey: .saveAt)
        // A partial `lora` section (or `--set lora.r=8` without one) keeps these defaults for the keys it omits.
        lora = c.contains(.lora) ? try LoRAConfig(from: c.superDecoder(forKey: .lora), defaults: x.lora) : x.lora
        initAdapter = try c.decodeIfPresent(String.self, forKey: .initAdapter)
        precision = try v(.precision, x.precision)
        if c.contains(.reportTo), try !c.decodeNil(forKey: .reportTo) {
            let names: [String]
            if let list = try? c.decode([String].self, forKey: .reportTo) { names = list } else { names = [try c.decode(String.self, forKey: .reportTo)] }
            guard names.allSatisfy(Self.reportTargets.contains) else {
                throw DecodingError.dataCorruptedError(forKey: .reportTo, in: c, debugDescription: "expected wandb or none (or a list of them)")
            }
            let targets = names.filter { $0 != "none" }
            reportTo = targets.isEmpty ? nil : targets
        }
    }

    static let keys = Set(CodingKeys.allCases.map(\.rawValue))

    /// Reads YAML (if a path is given) and applies `key=value` overrides (`lora.r=8` reaches into
    /// the lora section); unknown keys are errors, and so is a YAML alias (a document that expands
    /// itself is refused before it is expanded).
    public static func resolve(yamlPath: String?, overrides: [String]) throws -> TrainConfig {
        var top: [(String, Node)] = []
        if let yamlPath {
            guard let text = try? String(contentsOfFile: yamlPath, encoding: .utf8) else { throw TrainingError.unreadable(path: yamlPath) }
            top = try mapping(text, path: yamlPath)
        }
        func set(_ key: String, _ value: Node, in pairs: inout [(String, Node)]) {
            if let i = pairs.firstIndex(where: { $0.0 == key }) { pairs[i].1 = value } else { pairs.append((key, value)) }
        }
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else { throw TrainingError.badOverride(o, reason: "expected key=value") }
            let key = String(o[..<eq]), raw = String(o[o.index(after: eq)...])
            // The value is read as YAML (numbers, booleans, lists); text that is not YAML stays a string.
            let value = ((try? BoundedYAML.compose(raw, maxNodes: 10_000, maxDepth: 8)) ?? nil) ?? Node(raw)
            let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2, parts[0] == "lora" {
                var l = top.first { $0.0 == "lora" }?.1.mapping.map { m in m.compactMap { k, v in k.string.map { ($0, v) } } } ?? []
                set(parts[1], value, in: &l)
                set("lora", Node.mapping(Node.Mapping(l.map { (Node($0.0), $0.1) })), in: &top)
            } else if parts.count == 1 {
                set(key, value, in: &top)
            } else { throw TrainingError.unknownKeys([key]) }
        }
        let loraKeys = top.first { $0.0 == "lora" }?.1.mapping?.keys.compactMap(\.string) ?? []
        let unknown = top.map(\.0).filter { !keys.contains($0) } + loraKeys.filter { !LoRAConfig.keys.contains($0) }.map { "lora.\($0)" }
        guard unknown.isEmpty else { throw TrainingError.unknownKeys(unknown.sorted()) }
        do {
            let node = Node.mapping(Node.Mapping(top.map { (Node($0.0), $0.1) }))
            return try YAMLDecoder().decode(TrainConfig.self, from: node)
        } catch let e as DecodingError { throw TrainingError.badConfig(reason: RecordFile.describe(e)) } catch {
            throw TrainingError.badConfig(reason: "\(error)")
        }
    }

    /// The top-level mapping of a YAML document. Aliases make a small file a huge tree, so the
    /// tree is measured (with an early stop) before anything walks it in full.
    static func mapping(_ text: String, path: String) throws -> [(String, Node)] {
        let node: Node?
        do { node = try BoundedYAML.compose(text, maxNodes: 10_000, maxDepth: 32) } catch { throw TrainingError.badYAML(path: path, reason: "\(error)") }
        guard let node else { return [] }
        guard let m = node.mapping else { throw TrainingError.badYAML(path: path, reason: "the top level must be a mapping of keys to values") }
        return try m.map { k, v in
            guard let key = k.string else { throw TrainingError.badYAML(path: path, reason: "a key is not a string") }
            return (key, v)
        }
    }

    /// Checks every number before anything is sized or scheduled from it.
    public func validate() throws(TrainingError) {
        func need(_ ok: Bool, _ key: String, _ value: Any, _ expected: String) throws(TrainingError) {
            if !ok { throw .badValue(key: key, value: "\(value)", expected: expected) }
        }
        for (key, path) in [("model", model), ("data", data), ("output_dir", outputDir)] + (initAdapter.map { [("init_adapter", $0)] } ?? []) {
            try need(!path.trimmingCharacters(in: .whitespaces).isEmpty, key, "\"\(path)\"", "a path")
        }
        try need((1...4096).contains(batchSize), "batch_size", batchSize, "an integer in 1...4096")
        try need((1...4096).contains(gradientAccumulationSteps), "gradient_accumulation_steps", gradientAccumulationSteps, "an integer in 1...4096")
        try need(maxSteps <= 10_000_000, "max_steps", maxSteps, "at most 10,000,000 (≤ 0 means train num_epochs)")
        try need(numEpochs.isFinite && numEpochs >= 0 && numEpochs <= 10_000, "num_epochs", numEpochs, "a number in [0, 10000]")
        try need(maxSteps > 0 || numEpochs > 0, "num_epochs", numEpochs, "a number > 0 when max_steps ≤ 0")
        try need(learningRate.isFinite && learningRate > 0 && learningRate < 1, "learning_rate", learningRate, "a number in (0, 1)")
        try need((0...10_000_000).contains(warmupSteps), "warmup_steps", warmupSteps, "an integer ≥ 0")
        try need(weightDecay.isFinite && weightDecay >= 0 && weightDecay < 1, "weight_decay", weightDecay, "a number in [0, 1)")
        try need(maxGradNorm.isFinite && maxGradNorm > 0, "max_grad_norm", maxGradNorm, "a finite number > 0")
        try need(adamBeta1.isFinite && adamBeta1 >= 0 && adamBeta1 < 1, "adam_beta1", adamBeta1, "a number in [0, 1)")
        try need(adamBeta2.isFinite && adamBeta2 >= 0 && adamBeta2 < 1, "adam_beta2", adamBeta2, "a number in [0, 1)")
        try need(adamEpsilon.isFinite && adamEpsilon > 0, "adam_epsilon", adamEpsilon, "a finite number > 0")
        try need((4...1_048_576).contains(maxLength), "max_length", maxLength, "an integer in 4...1048576")
        try need((0...1_000_000).contains(loggingSteps), "logging_steps", loggingSteps, "an integer ≥ 0")
        try need((0...10_000_000).contains(evalSteps), "eval_steps", evalSteps, "an integer ≥ 0 (0 = never)")
        try need((0...1_000_000).contains(evalSamples), "eval_samples", evalSamples, "an integer in 0...1000000")
        try need((0...1_000_000).contains(generationCheckSamples), "generation_check_samples", generationCheckSamples, "an integer in 0...1000000")
        try need((0...10_000_000).contains(saveSteps), "save_steps", saveSteps, "an integer ≥ 0 (0 = only at the end)")
        try need((0...1_000_000).contains(saveTotalLimit), "save_total_limit", saveTotalLimit, "an integer ≥ 0 (0 = keep all)")
        if let at = saveAt {
            try need(at.count <= 10_000 && at.allSatisfy { (1...10_000_000).contains($0) }, "save_at", at.prefix(8), "at most 10,000 steps, each in 1...10000000")
        }
        do { try lora.validate() } catch { throw .adapter(error) }
    }

    /// The resolved configuration as YAML (saved with every run).
    public func yaml() throws -> String { try YAMLEncoder().encode(self) }
}


// The files of a training run (`strawberry train`, output_dir):
//   metrics.jsonl                          TrainingLogLine per logged step (and step 0)
//   checkpoint-STEP/trainer_state.json     TrainerState
//   */adapter_config.json                  PEFTAdapterConfig (PEFT's own schema)

/// One line of metrics.jsonl. Step 0 carries only the starting evaluation.
public struct TrainingLogLine: Codable, Equatable, Sendable {
    public var step: Int
    public var epoch: Double
    /// Mean training loss over the steps since the previous line.
    public var loss: Double?
    public var gradNorm: Double?
    public var learningRate: Double?
    public var tokensPerSecond: Double?
    @ExplicitNull public var evalLoss: Double?
    /// Greedy exact-match of the completion on validation spelling prompts.
    @ExplicitNull public var evalSpellingAccuracy: Double?
    /// Peak accelerator memory so far (the PyTorch backend on a GPU: torch.cuda.max_memory_allocated), to
    /// compare with `strawberry plan`; absent on the CPU.
    public var peakMemoryGiB: Double?

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, gradNorm = "grad_norm", learningRate = "learning_rate", tokensPerSecond = "tokens_per_second"
        case evalLoss = "eval_loss", evalSpellingAccuracy = "eval_spelling_accuracy", peakMemoryGiB = "peak_memory_gib"
    }

    public init(step: Int, epoch: Double, loss: Double? = nil, gradNorm: Double? = nil, learningRate: Double? = nil,
                tokensPerSecond: Double? = nil, evalLoss: Double?, evalSpellingAccuracy: Double?) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.gradNorm = gradNorm
        self.learningRate = learningRate
        self.tokensPerSecond = tokensPerSecond
        self.evalLoss = evalLoss
        self.evalSpellingAccuracy = evalSpellingAccuracy
    }
}

/// Where a checkpoint stands, so a resumed run retraces the uninterrupted one.
public struct TrainerState: Codable, Equatable, Sendable {
    public var globalStep: Int
    public var epoch: Int
    public var batchInEpoch: Int
    public var maxSteps: Int
    public var seed: UInt64
    @ExplicitNull public var bestEvalLoss: Double?
    public var optimizerStep: Int

    enum CodingKeys: String, CodingKey {
        case globalStep = "global_step", epoch, batchInEpoch = "batch_in_epoch", maxSteps = "max_steps", seed
        case bestEvalLoss = "best_eval_loss", optimizerStep = "optimizer_step"
    }

    public init(globalStep: Int, epoch: Int, batchInEpoch: Int, maxSteps: Int, seed: UInt64, bestEvalLoss: Double?, optimizerStep: Int) {
        self.globalStep = globalStep
        self.epoch = epoch
        self.batchInEpoch = batchInEpoch
        self.maxSteps = maxSteps
        self.seed = seed
        self.bestEvalLoss = bestEvalLoss
        self.optimizerStep = optimizerStep
    }
}

/// adapter_config.json as PEFT writes it (peft 0.17): every key PEFT expects, so it loads the
/// adapter without warnings. Reading accepts PEFT's own files, which may lack newer keys.
public struct PEFTAdapterConfig: Codable, Equatable, Sendable {
    public var r: Int
    public var loraAlpha: Double
    public var loraDropout: Double
    /// Module names (list), or a regular expression (string) — the latter Strawberry does not read.
    public var targetModules: TargetModules
    public var useRSLoRA: Bool
    public var useDoRA: Bool
    public var peftType: String
    public var taskType: String?
    public var baseModelNameOrPath: String?
    /// GPT-2's Conv1D layers store weights [in, out].
    public var fanInFanOut: Bool
    public var rankPattern: [String: JSONValue]
    public var alphaPattern: [String: JSONValue]
    public var bias: String
    /// PEFT features Strawberry does not apply; read so that an adapter using them is refused, not misapplied.
    public var layersToTransform: JSONValue?
    public var layersPattern: JSONValue?
    public var modulesToSave: JSONValue?

    public enum TargetModules: Codable, Equatable, Sendable {
        case names([String])
        case regex(String)
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .names([]) } else if let s = try? c.decode(String.self) { self = .regex(s) } else { self = .names(try c.decode([String].self)) }
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self { case .names(let n): try c.encode(n); case .regex(let r): try c.encode(r) }
        }
    }

    enum CodingKeys: String, CodingKey {
        case r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout", targetModules = "target_modules", useRSLoRA = "use_rslora"
        case useDoRA = "use_dora", peftType = "peft_type", taskType = "task_type", baseModelNameOrPath = "base_model_name_or_path"
        case fanInFanOut = "fan_in_fan_out", rankPattern = "rank_pattern", alphaPattern = "alpha_pattern", bias
        case layersToTransform = "layers_to_transform", layersPattern = "layers_pattern", modulesToSave = "modules_to_save"
    }

    public init(r: Int, loraAlpha: Double, loraDropout: Double, targetModules: [String], useRSLoRA: Bool, baseModel: String, fanInFanOut: Bool) {
        self.r = r
        self.loraAlpha = loraAlpha
        self.loraDropout = loraDropout
        self.targetModules = .names(targetModules)
        self.useRSLoRA = useRSLoRA
        useDoRA = false
        peftType = "LORA"
        taskType = "CAUSAL_LM"
        baseModelNameOrPath = baseModel
        self.fanInFanOut = fanInFanOut
        rankPattern = [:]
        alphaPattern = [:]
        bias = "none"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        r = try c.decode(Int.self, forKey: .r)
        loraAlpha = try c.decode(Double.self, forKey: .loraAlpha)
        loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout) ?? 0
        targetModules = try c.decodeIfPresent(TargetModules.self, forKey: .targetModules) ?? .names([])
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? false
        useDoRA = try c.decodeIfPresent(Bool.self, forKey: .useDoRA) ?? false
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType) ?? "LORA"
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        rankPattern = try c.decodeIfPresent([String: JSONValue].self, forKey: .rankPattern) ?? [:]
        alphaPattern = try c.decodeIfPresent([String: JSONValue].self, forKey: .alphaPattern) ?? [:]
        bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
        func present(_ k: CodingKeys) throws -> JSONValue? {
            let v = try c.decodeIfPresent(JSONValue.self, forKey: k)
            return v == .null ? nil : v
        }
        layersToTransform = try present(.layersToTransform)
        layersPattern = try present(.layersPattern)
        modulesToSave = try present(.modulesToSave)
    }

    /// PEFT's full key set, with its defaults for what LoRA here does not use.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        func put<T: Encodable>(_ k: String, _ v: T) throws { try c.encode(v, forKey: DynamicKey(k)) }
        func null(_ k: String) throws { try c.encodeNil(forKey: DynamicKey(k)) }
        try put("alpha_pattern", alphaPattern); try null("auto_mapping"); try put("base_model_name_or_path", baseModelNameOrPath ?? "")
        try put("bias", bias); try null("eva_config"); try null("exclude_modules"); try put("fan_in_fan_out", fanInFanOut)
        try put("inference_mode", true); try put("init_lora_weights", true); try null("layer_replication"); try null("layers_pattern")
        try null("layers_to_transform"); try put("loftq_config", [String: JSONValue]()); try put("lora_alpha", loraAlpha)
        try put("lora_bias", false); try put("lora_dropout", loraDropout); try null("megatron_config"); try put("megatron_core", "megatron.core")
        try null("modules_to_save"); try put("peft_type", peftType); try put("r", r); try put("rank_pattern", rankPattern); try null("revision")
        try put("target_modules", targetModules); try put("task_type", taskType ?? "CAUSAL_LM"); try put("use_dora", useDoRA)
        try put("use_rslora", useRSLoRA)
    }
}

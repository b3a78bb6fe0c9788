// `strawberry plan`: will a LoRA run fit on a GPU, and how long will an epoch take? Estimated from
// the architecture's shapes and the dataset's own token counts, for the PyTorch backend on GPUs
// (bf16 weights and activations, fp32 LoRA factors with AdamW states, cross-entropy in fp32):
//
//   weights      = parameters × 2 bytes                       (bf16; tied embeddings counted once)
//   LoRA states  = LoRA parameters × 16 bytes                 (fp32 value, gradient, two AdamW moments)
//   activations  = tokens × layers × saved values per token per layer × 2 bytes
//                  saved per layer: 4·hidden + 4·q_dim + 4·kv_dim + 4·intermediate (norm inputs/outputs,
//                  q/k/v before and after QK-norm and RoPE, the attention output, gate, up, SiLU(gate),
//                  their product), plus each adapted module's input and its rank-r product;
//                  with gradient checkpointing: each layer's input, plus one layer's values (recomputed)
//   logits       = tokens × vocabulary × 10 bytes             (bf16 logits, fp32 copy, fp32 gradient)
//   (a GPU without bf16, such as the T4: the backend computes in float32, 4 bytes a value)
//   overhead     = 1 GiB                                      (CUDA context, cuBLAS workspace)
//
// Time: forward FLOPs per token = 2 × (linear + LM-head parameters) + attention (4 · layers · q_dim ·
// mean length); a LoRA step needs the input gradients of every frozen layer but not their weight
// gradients, so ≈ 2 × forward (3 × with checkpointing, which recomputes the forward). Seconds =
// FLOPs / (the GPU's dense TFLOPS at that precision × utilisation). The utilisation (MFU) is an assumption until the
// backend has measured it on the GPU in question; every assumption is listed in the plan.
import Adapters
import Foundation
import Models
import Records
import Tokenization

/// A GPU: its marketed size, the memory its driver reports (what PyTorch can use), and the dense
/// throughput the backend gets from it, from the vendor's data sheet: bf16 tensor TFLOPS, or, on a GPU
/// without bf16 (T4), float32 TFLOPS — the backend then computes in float32.
public struct GPUSpec: Codable, Equatable, Sendable {
    public var name: String
    /// "24 GB" on the box.
    public var marketedGB: Int
    /// Total memory as nvidia-smi reports it, in GiB (an L4's "24 GB" is 23,034 MiB).
    public var memoryGiB: Double
    /// Dense (no sparsity) TFLOPS at the precision the backend uses on it; nil when unknown (no time estimate).
    public var tflops: Double?
    public var bf16: Bool

    enum CodingKeys: String, CodingKey { case name, marketedGB = "marketed_gb", memoryGiB = "memory_gib", tflops, bf16 }

    public init(name: String, marketedGB: Int, memoryMiB: Double, tflops: Double?, bf16: Bool = true) {
        self.name = name
        self.marketedGB = marketedGB
        self.memoryGiB = memoryMiB / 1024
        self.tflops = tflops
        self.bf16 = bf16
    }

    public static let catalog: [GPUSpec] = [
        GPUSpec(name: "T4", marketedGB: 16, memoryMiB: 15_360, tflops: 8.1, bf16: false),
        GPUSpec(name: "L4", marketedGB: 24, memoryMiB: 23_034, tflops: 121),
        GPUSpec(name: "A10", marketedGB: 24, memoryMiB: 23_028, tflops: 125),
        GPUSpec(name: "A100-40GB", marketedGB: 40, memoryMiB: 40_960, tflops: 312),
        GPUSpec(name: "L40S", marketedGB: 48, memoryMiB: 46_068, tflops: 362),
        GPUSpec(name: "A100-80GB", marketedGB: 80, memoryMiB: 81_920, tflops: 312),
        GPUSpec(name: "H100-80GB", marketedGB: 80, memoryMiB: 81_559, tflops: 989),
        GPUSpec(name: "H200", marketedGB: 141, memoryMiB: 143_771, tflops: 989),
    ]

    /// `--gpu`: a catalogue name (L4, a100-80gb, H100, …) or a marketed size ("24GB", "24"): every
    /// catalogued GPU of that size, or one of that size (decimal gigabytes) with unknown speed.
    public static func parse(_ text: String) -> [GPUSpec]? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let named = catalog.first(where: { $0.name.lowercased() == t || $0.name.lowercased().hasPrefix(t + "-") }) { return [named] }
        var digits = t
        for suffix in ["gib", "gb", "g"] where digits.hasSuffix(suffix) { digits = String(digits.dropLast(suffix.count)); break }
        guard let gb = Int(digits.trimmingCharacters(in: .whitespaces)), gb > 0, gb <= 100_000 else { return nil }
        let sized = catalog.filter { $0.marketedGB == gb }
        return sized.isEmpty ? [GPUSpec(name: "\(gb) GB GPU", marketedGB: gb, memoryMiB: Double(gb) * 1e9 / 1_048_576, tflops: nil)] : sized
    }
}

/// What a plan is made from.
public struct PlanRequest: Sendable {
    public var modelName: String
    public var model: ModelConfig
    public var lora: LoRAConfig
    public var batchSize: Int
    public var gradientAccumulationSteps: Int
    public var epochs: Double
    /// max_steps > 0 fixes the number of optimizer steps instead of epochs.
    public var maxSteps: Int
    /// Tokens of each training example as the backend feeds it (prompt in the chat template + completion).
    public var exampleTokens: [Int]
    public var gpus: [GPUSpec]
    /// Model FLOPs utilisation assumed for the time estimate.
    public var utilisation = 0.3

    public init(modelName: String, model: ModelConfig, lora: LoRAConfig, batchSize: Int, gradientAccumulationSteps: Int, epochs: Double,
                maxSteps: Int, exampleTokens: [Int], gpus: [GPUSpec]) {
        self.modelName = modelName
        self.model = model
        self.lora = lora
        self.batchSize = batchSize
        self.gradientAccumulationSteps = gradientAccumulationSteps
        self.epochs = epochs
        self.maxSteps = maxSteps
        self.exampleTokens = exampleTokens
        self.gpus = gpus
    }
}

public struct MemoryEstimate: Codable, Equatable, Sendable {
    public var weightsGiB: Double
    public var loraStatesGiB: Double
    public var activationsGiB: Double
    public var logitsGiB: Double
    public var overheadGiB: Double
    public var totalGiB: Double
    enum CodingKeys: String, CodingKey {
        case weightsGiB = "weights_gib", loraStatesGiB = "lora_states_gib", activationsGiB = "activations_gib", logitsGiB = "logits_gib"
        case overheadGiB = "overhead_gib", totalGiB = "total_gib"
    }
}

public struct GPUPlan: Codable, Equatable, Sendable {
    public var gpu: GPUSpec
    /// bf16, or fp32 on a GPU without bf16.
    public var precision: String
    /// Estimated peak memory at that precision, without and with gradient checkpointing.
    public var totalGiB: Double
    public var totalWithCheckpointingGiB: Double
    public var fits: Bool
    public var fitsWithCheckpointing: Bool
    /// Per epoch (or per max_steps run), seconds; nil when the GPU's throughput is unknown.
    public var seconds: Double?
    public var secondsWithCheckpointing: Double?
    enum CodingKeys: String, CodingKey {
        case gpu, precision, totalGiB = "total_gib", totalWithCheckpointingGiB = "total_with_checkpointing_gib", fits
        case fitsWithCheckpointing = "fits_with_checkpointing", seconds, secondsWithCheckpointing = "seconds_with_checkpointing"
    }
}

/// `strawberry plan --json`.
public struct TrainingPlan: Codable, Equatable, Sendable {
    public var model: String
    public var parameters: Int
    public var loraParameters: Int
    public var loraModules: Int
    public var examples: Int
    public var tokens: Int
    public var meanExampleTokens: Double
    public var maxExampleTokens: Int
    /// Tokens of the largest micro-batch (padded to its longest example): what activations are sized by.
    public var microBatchTokens: Int
    public var optimizerSteps: Int
    /// Tokens the run trains on (an epoch, or max_steps worth of batches).
    public var trainedTokens: Int
    public var forwardFLOPsPerToken: Double
    /// bf16 estimates (a GPU without bf16 has its float32 totals in `gpus`).
    public var memory: MemoryEstimate
    public var memoryWithCheckpointing: MemoryEstimate
    public var gpus: [GPUPlan]
    public var assumptions: [String]

    enum CodingKeys: String, CodingKey {
        case model, parameters, loraParameters = "lora_parameters", loraModules = "lora_modules", examples, tokens
        case meanExampleTokens = "mean_example_tokens", maxExampleTokens = "max_example_tokens", microBatchTokens = "micro_batch_tokens"
        case optimizerSteps = "optimizer_steps", trainedTokens = "trained_tokens", forwardFLOPsPerToken = "forward_flops_per_token"
        case memory, memoryWithCheckpointing = "memory_with_checkpointing", gpus, assumptions
    }
}

public enum Planner {
    static let gib = 1024.0 * 1024 * 1024

    public static func plan(_ r: PlanRequest) throws -> TrainingPlan {
        guard !r.exampleTokens.isEmpty else { throw TrainingError.badValue(key: "data", value: "no examples", expected: "a dataset with training examples") }
        guard r.batchSize >= 1, r.gradientAccumulationSteps >= 1 else { throw TrainingError.badValue(key: "batch_size", value: "\(r.batchSize)", expected: "≥ 1") }
        guard r.utilisation > 0, r.utilisation <= 1 else { throw TrainingError.badValue(key: "utilisation", value: "\(r.utilisation)", expected: "a fraction in (0, 1]") }
        let c = r.model
        let modules: [LoRAModule]
        do { modules = try LoRAState.layout(model: c, config: r.lora).modules } catch { throw TrainingError.adapter(error) }
        let rank = r.lora.r
        let loraParameters = modules.reduce(0) { (n: Int, m: LoRAModule) in n + rank * (m.inFeatures + m.outFeatures) }
        let linear = c.architecture.descriptor.linears(c).reduce(0) { $0 + $1.inFeatures * $1.outFeatures } * c.layers
        let embedding = c.vocabSize * c.hidden
        let norms = c.layers * (2 * c.hidden + (c.architecture.descriptor.perHeadQKNorm ? 2 * c.headDim : 0)) + c.hidden
        let parameters = linear + embedding * (c.tieEmbeddings ? 1 : 2) + norms

        let tokens = r.exampleTokens.reduce(0, +)
        let mean = Double(tokens) / Double(r.exampleTokens.count)
        let longest = r.exampleTokens.max() ?? 0
        let microBatchTokens = min(r.batchSize, r.exampleTokens.count) * longest
        let batchesPerEpoch = (r.exampleTokens.count + r.batchSize - 1) / r.batchSize
        let steps = r.maxSteps > 0 ? r.maxSteps : Int((Double(batchesPerEpoch) * r.epochs / Double(r.gradientAccumulationSteps)).rounded(.up))
        let trainedTokens = r.maxSteps > 0
            ? Int(mean * Double(r.maxSteps * r.batchSize * r.gradientAccumulationSteps))
            : Int(Double(tokens) * r.epochs)

        // Saved values per token per layer (see the header), and what LoRA adds: each adapted module's
        // (dropped-out) input and its rank-r product.
        let perLayer = 4 * c.hidden + 4 * c.qDim + 4 * c.kvDim + 4 * c.intermediate
        let loraPerLayer = modules.filter { $0.layer == 0 }.reduce(0) { (n: Int, m: LoRAModule) in n + m.inFeatures + rank }
        let valuesPerToken = Double(c.layers * (perLayer + loraPerLayer))
        let checkpointedPerToken = Double(c.layers * c.hidden + perLayer + loraPerLayer)
        let bt = Double(microBatchTokens)
        func estimate(_ saved: Double, bytes: Double) -> MemoryEstimate {
            let weights = Double(parameters) * bytes / gib, states = Double(loraParameters) * 16 / gib
            let acts = bt * saved * bytes / gib, logits = bt * Double(c.vocabSize) * (bytes + 8) / gib, overhead = 1.0
            return MemoryEstimate(weightsGiB: weights, loraStatesGiB: states, activationsGiB: acts, logitsGiB: logits, overheadGiB: overhead,
                                  totalGiB: weights + states + acts + logits + overhead)
        }
        let full = estimate(valuesPerToken, bytes: 2), checkpointed = estimate(checkpointedPerToken, bytes: 2)
        let forward = 2 * Double(linear + embedding) + 4 * Double(c.layers * c.qDim) * mean
        let gpus = r.gpus.map { g -> GPUPlan in
            let bytes: Double = g.bf16 ? 2 : 4
            let a = estimate(valuesPerToken, bytes: bytes).totalGiB, b = estimate(checkpointedPerToken, bytes: bytes).totalGiB
            let rate = g.tflops.map { $0 * 1e12 * r.utilisation }
            // Fragmentation of PyTorch's caching allocator is not modelled: keep a tenth of the memory free.
            let usable = 0.9 * g.memoryGiB
            return GPUPlan(gpu: g, precision: g.bf16 ? "bf16" : "fp32", totalGiB: a, totalWithCheckpointingGiB: b, fits: a <= usable, fitsWithCheckpointing: b <= usable,
                           seconds: rate.map { 2 * forward * Double(trainedTokens) / $0 }, secondsWithCheckpointing: rate.map { 3 * forward * Double(trainedTokens) / $0 })
        }
        var assumptions = [
            "bf16 weights and activations (float32 on a GPU without bf16, such as the T4), fp32 LoRA factors with AdamW states; PyTorch + PEFT with SDPA attention (no attention matrix kept)",
            "activations sized by the largest micro-batch padded to the longest example (\(min(r.batchSize, r.exampleTokens.count)) × \(longest) tokens)",
            String(format: "model FLOPs utilisation %.0f%% of the data sheet's dense TFLOPS at the precision used (an assumption until the backend measures it)", 100 * r.utilisation),
            "1 GiB of CUDA context and workspace; the caching allocator's fragmentation is not included, so a plan within 10% of the GPU's memory is marked as not fitting",
        ]
        if r.maxSteps > 0 { assumptions.append("max_steps \(r.maxSteps): time is for those steps, not an epoch") }
        return TrainingPlan(model: r.modelName, parameters: parameters, loraParameters: loraParameters, loraModules: modules.count,
                            examples: r.exampleTokens.count, tokens: tokens, meanExampleTokens: mean, maxExampleTokens: longest,
                            microBatchTokens: microBatchTokens, optimizerSteps: steps, trainedTokens: trainedTokens, forwardFLOPsPerToken: forward,
                            memory: full, memoryWithCheckpointing: checkpointed, gpus: gpus, assumptions: assumptions)
    }
}

/// A preset model (`ModelConfig.presets`) with what a plan needs besides its shapes: a tokenizer to
/// count the dataset's tokens with, and its chat template for one user turn.
public enum PlanPreset {
    /// Qwen3's chat template for one user turn, as its model card renders it (`enable_thinking` false adds
    /// the empty think block): the presets have no files to read it from.
    public static let qwen3Turn = """
        {%- for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}\
        {%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}\
        {{ '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}
        """

    /// Where a preset's tokenizer is when none is given: the fetched assets (`make assets`).
    public static func defaultTokenizer(for preset: ModelConfig, assets: String = "assets") -> String {
        preset.architecture == .qwen3 ? assets + "/qwen.tiktoken" : assets + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// The preset `name` (nil when it is none), its tokenizer and chat template.
    public static func resolve(_ name: String, tokenizer: String?) throws -> (config: ModelConfig, tokenizer: Tokenizer, template: String?)? {
        guard let preset = ModelConfig.preset(name) else { return nil }
        let path = tokenizer ?? defaultTokenizer(for: preset)
        guard fileExists(path) else {
            throw TrainingError.badConfig(reason: "\(path): no tokenizer to count the dataset's tokens with; run `make assets` or give --tokenizer")
        }
        let template = preset.architecture == .qwen3 ? qwen3Turn : try LoadedModel.chatTemplate(at: path)
        return (preset, try Tokenizer.load(path: path), template)
    }
}

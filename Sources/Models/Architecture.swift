// One declaration per architecture: everything outside the model's own forward pass that needs
// to know an architecture reads it from its descriptor — config parsing, GGUF tensor names, the
// linear layers LoRA can adapt (Hugging Face module paths, shapes, and where each sits inside the
// fused in-memory weights), the PEFT/Hugging Face paths, export names, and chat behaviour.
//
// Adding a Llama-family variant: a file with `static let NAME = ArchitectureDescriptor(...)`
// (usually `.llamaFamily(...)`), and one line in `ArchitectureDescriptor.registry`.
import ModelFormats
import Records

/// An architecture's identifier: Hugging Face `model_type` and GGUF `general.architecture`.
public struct Architecture: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let gpt2 = Architecture(rawValue: "gpt2")
    public static let llama = Architecture(rawValue: "llama")
    public static let qwen3 = Architecture(rawValue: "qwen3")

    /// Its descriptor (every Architecture value a ModelConfig holds is registered).
    public var descriptor: ArchitectureDescriptor {
        ArchitectureDescriptor.registry.first { $0.id == self } ?? .llama
    }
    public static var allCases: [Architecture] { ArchitectureDescriptor.registry.map(\.id) }
}

/// Where a Hugging Face linear layer lives in memory: the (possibly fused) weight of its block
/// and its first row there. Llama stacks q|k|v into `qkv` and gate|up into `gate_up`, so
/// `self_attn.k_proj` is rows [qDim, qDim + kvDim) of `qkv`.
public struct LinearSlot: Sendable, Equatable {
    public let weight: String
    public let row0: Int
    public init(weight: String, row0: Int = 0) { self.weight = weight; self.row0 = row0 }
}

/// A linear layer of a block: its module path inside the block (Hugging Face naming), its
/// shape as torch.nn.Linear sees it, and where it sits in memory.
public struct LinearLayer: Sendable, Equatable {
    public let module: String
    public let inFeatures: Int
    public let outFeatures: Int
    public let slot: LinearSlot
    public init(_ module: String, in inFeatures: Int, out outFeatures: Int, _ slot: LinearSlot) {
        self.module = module
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.slot = slot
    }
}

public struct ArchitectureDescriptor: Sendable {
    public let id: Architecture
    /// `architectures[0]` of an exported config.json.
    public let huggingFaceClass: String
    /// Hugging Face path of block i: blockPrefix + "i" (as PEFT and exported checkpoints name it).
    public let blockPrefix: String
    /// The linear layers of one block, in forward order.
    public let linears: @Sendable (ModelConfig) -> [LinearLayer]
    /// PEFT's default LoRA targets (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
    public let defaultLoRATargets: [String]
    /// Hugging Face stores the linear weights [in, out] (GPT-2's Conv1D; PEFT's fan_in_fan_out).
    public let conv1DWeights: Bool
    /// Rotary position embeddings (else learned absolute positions).
    public let usesRoPE: Bool
    /// Chat templates take `enable_thinking` (Qwen3).
    public let hasThinkingMode: Bool
    /// RMSNorm over head_dim on every query and key head before RoPE (Qwen3's q_norm/k_norm).
    public let perHeadQKNorm: Bool
    /// llama.cpp tensor names: whole names, and per-block modules (blk.N.MODULE.weight).
    public let ggufTopLevel: [String: String]
    public let ggufBlockModules: [String: String]
    /// Hugging Face prefix of block N for GGUF-mapped names ("model.layers." or GPT-2's bare "h.").
    public let ggufBlockPrefix: String
    /// llama.cpp's converter permutes q/k rows per head for this architecture (undone at load).
    public let ggufPermutesQK: Bool
    /// config.json → ModelConfig.
    public let parseConfig: @Sendable (JSONValue, String) throws -> ModelConfig
    /// ModelConfig → the architecture-specific keys of an exported config.json.
    public let exportConfig: @Sendable (ModelConfig) -> [(String, JSONValue)]
    /// Builds the network from a weight source (strict: every tensor checked by name and shape).
    public let load: @Sendable (ModelConfig, WeightSource, WeightPrecision) throws -> any CausalLM

    /// Every supported architecture. One line per architecture.
    public static let registry: [ArchitectureDescriptor] = [.gpt2, .llama, .qwen3]

    public static func named(_ name: String) -> ArchitectureDescriptor? { registry.first { $0.id.rawValue == name } }

    /// Hugging Face module path of one linear layer of block `layer`.
    public func path(layer: Int, module: String) -> String { "\(blockPrefix)\(layer).\(module)" }

    /// Parameters streamed per token: every linear layer of every block plus the [V, C] LM head.
    public func parameterCount(_ c: ModelConfig) -> Int {
        c.layers * linears(c).reduce(0) { $0 + $1.inFeatures * $1.outFeatures } + c.vocabSize * c.hidden
    }
}

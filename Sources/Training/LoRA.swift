// LoRA (Hu et al. 2021) as PEFT implements it: for a frozen linear y = x Wᵀ, add
// s · (dropout(x) Aᵀ) Bᵀ with A [r, in], B [out, r], s = α/r (α/√r with rsLoRA). B starts at zero
// and A as PEFT's default init (kaiming-uniform with a = √5, i.e. U(±1/√in)), so training starts
// exactly at the base model. All factors live in one flat buffer with named views, so the
// optimizer is a single loop; gradients and Adam moments share the layout.
import Foundation
import Models
import TensorCore

public struct LoRAConfig: Codable, Equatable, Sendable {
    public var r = 8
    public var alpha: Double = 16
    public var dropout: Double = 0.05
    /// Module names matched against the end of each linear layer's path (PEFT semantics), or ["all-linear"].
    public var targetModules: [String] = []
    public var useRSLoRA = false

    public init(r: Int = 8, alpha: Double = 16, dropout: Double = 0.05, targetModules: [String] = [], useRSLoRA: Bool = false) {
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.useRSLoRA = useRSLoRA
    }

    public var scale: Float { Float(useRSLoRA ? alpha / Double(r).squareRoot() : alpha / Double(r)) }

    /// PEFT's defaults per architecture (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
    public static func defaultTargets(_ a: Architecture) -> [String] {
        switch a {
        case .gpt2: return ["c_attn"]
        case .llama, .qwen3: return ["q_proj", "v_proj"]
        }
    }
}

/// One adapted linear layer: its Hugging Face module path and where its factors sit.
public struct LoRAModule: Sendable, Equatable {
    public let path: String          // e.g. model.layers.3.self_attn.q_proj
    public let layer: Int
    public let kind: String          // q_proj, k_proj, …, c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj
    public let inFeatures: Int
    public let outFeatures: Int
    public let offsetA: Int          // A [r, in] at values[offsetA...]
    public let offsetB: Int          // B [out, r]

    public var peftKeyA: String { "base_model.model.\(path).lora_A.weight" }
    public var peftKeyB: String { "base_model.model.\(path).lora_B.weight" }
}

public struct LoRAError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The trainable state: configuration, layout and the flat parameter buffer.
public struct LoRAState: Sendable {
    public let config: LoRAConfig
    public let architecture: Architecture
    public let modules: [LoRAModule]
    public var values: [Float]
    let index: [String: Int]

    /// Linear layers of an architecture, in forward order: (kind, in, out).
    public static func linears(_ c: ModelConfig) -> [(String, Int, Int)] {
        switch c.architecture {
        case .gpt2:
            return [("attn.c_attn", c.hidden, 3 * c.hidden), ("attn.c_proj", c.hidden, c.hidden),
                    ("mlp.c_fc", c.hidden, c.intermediate), ("mlp.c_proj", c.intermediate, c.hidden)]
        case .llama, .qwen3:
            return [("self_attn.q_proj", c.hidden, c.qDim), ("self_attn.k_proj", c.hidden, c.kvDim), ("self_attn.v_proj", c.hidden, c.kvDim),
                    ("self_attn.o_proj", c.qDim, c.hidden), ("mlp.gate_proj", c.hidden, c.intermediate),
                    ("mlp.up_proj", c.hidden, c.intermediate), ("mlp.down_proj", c.intermediate, c.hidden)]
        }
    }

    static func path(_ c: ModelConfig, layer: Int, kind: String) -> String {
        c.architecture == .gpt2 ? "transformer.h.\(layer).\(kind)" : "model.layers.\(layer).\(kind)"
    }

    /// Lays out factors for every linear layer whose path matches `config.targetModules`.
    public init(model c: ModelConfig, config: LoRAConfig, seed: UInt64) throws {
        guard config.r > 0 else { throw LoRAError(message: "lora.r must be positive") }
        let targets = config.targetModules.isEmpty ? LoRAConfig.defaultTargets(c.architecture) : config.targetModules
        if targets.contains(where: { ["lm_head", "embed_tokens", "wte"].contains($0) }) {
            throw LoRAError(message: "LoRA on the (tied) embedding / lm_head is not supported; remove it from lora.target_modules")
        }
        var modules: [LoRAModule] = [], offset = 0
        var matched = Set<String>()
        for layer in 0..<c.layers {
            for (kind, inF, outF) in Self.linears(c) {
                let path = Self.path(c, layer: layer, kind: kind)
                guard let t = targets.first(where: { $0 == "all-linear" || path == $0 || path.hasSuffix("." + $0) }) else { continue }
                matched.insert(t)
                modules.append(LoRAModule(path: path, layer: layer, kind: kind, inFeatures: inF, outFeatures: outF,
                                          offsetA: offset, offsetB: offset + config.r * inF))
                offset += config.r * (inF + outF)
            }
        }
        let unmatched = Set(targets).subtracting(matched)
        guard unmatched.isEmpty else {
            throw LoRAError(message: "lora.target_modules \(unmatched.sorted()) match no layer of this \(c.architecture.rawValue) model; available: \(Self.linears(c).map(\.0).joined(separator: ", "))")
        }
        var cfg = config
        cfg.targetModules = targets
        self.config = cfg
        architecture = c.architecture
        self.modules = modules
        index = Dictionary(uniqueKeysWithValues: modules.enumerated().map { ($1.path, $0) })
        values = [Float](repeating: 0, count: offset)
        var rng = SplitMix64(seed: seed)
        for m in modules {
            let bound = 1 / Float(m.inFeatures).squareRoot()
            for i in 0..<(config.r * m.inFeatures) { values[m.offsetA + i] = Float(rng.uniform() * 2 - 1) * bound }
        }
    }

    init(config: LoRAConfig, architecture: Architecture, modules: [LoRAModule], values: [Float], index: [String: Int]) {
        self.config = config
        self.architecture = architecture
        self.modules = modules
        self.values = values
        self.index = index
    }

    public var parameterCount: Int { values.count }
    public func module(_ path: String) -> LoRAModule? { index[path].map { modules[$0] } }

    /// Modules of one layer by kind.
    public func modules(layer: Int) -> [String: LoRAModule] {
        Dictionary(uniqueKeysWithValues: modules.filter { $0.layer == layer }.map { ($0.kind, $0) })
    }

    public func a(_ m: LoRAModule) -> ArraySlice<Float> { values[m.offsetA..<(m.offsetA + config.r * m.inFeatures)] }
    public func b(_ m: LoRAModule) -> ArraySlice<Float> { values[m.offsetB..<(m.offsetB + m.outFeatures * config.r)] }
}

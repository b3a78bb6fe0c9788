// LoRA (Hu et al. 2021) as PEFT implements it: for a frozen linear y = x Wᵀ, add
// s · (dropout(x) Aᵀ) Bᵀ with A [r, in], B [out, r], s = α/r (α/√r with rsLoRA). B starts at zero
// and A as PEFT's default init (kaiming-uniform with a = √5, i.e. U(±1/√in)), so training starts
// exactly at the base model. All factors live in one flat buffer with named views, so the
// optimizer is a single loop; gradients and Adam moments share the layout. Which layers exist,
// their shapes and where each sits in the fused in-memory weights come from the architecture's
// descriptor.
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

    /// Largest rank accepted: far above any useful LoRA rank, and small enough that r × (in + out)
    /// factors for every layer cannot overflow or exhaust memory before the size check.
    public static let maxRank = 4096

    public init(r: Int = 8, alpha: Double = 16, dropout: Double = 0.05, targetModules: [String] = [], useRSLoRA: Bool = false) {
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.useRSLoRA = useRSLoRA
    }

    public var scale: Float { Float(useRSLoRA ? alpha / Double(r).squareRoot() : alpha / Double(r)) }

    enum CodingKeys: String, CodingKey { case r, alpha, dropout, targetModules = "target_modules", useRSLoRA = "use_rslora" }
    public static let keys = Set(["r", "alpha", "dropout", "target_modules", "use_rslora"])

    public init(from d: Decoder) throws { try self.init(from: d, defaults: LoRAConfig()) }

    /// A mapping that names only some keys keeps `defaults` for the others (a training config's
    /// `lora: {r: 8}` changes the rank, not alpha and the targets as well).
    public init(from d: Decoder, defaults x: LoRAConfig) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        r = try c.decodeIfPresent(Int.self, forKey: .r) ?? x.r
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? x.alpha
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? x.dropout
        if let one = try? c.decodeIfPresent(String.self, forKey: .targetModules) { targetModules = [one] }
        else { targetModules = try c.decodeIfPresent([String].self, forKey: .targetModules) ?? x.targetModules }
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? x.useRSLoRA
    }

    /// Checks the numbers before anything is sized from them.
    public func validate() throws(AdapterError) {
        guard (1...Self.maxRank).contains(r) else { throw .badValue(key: "r", value: "\(r)", expected: "an integer in 1...\(Self.maxRank)") }
        guard alpha.isFinite, alpha > 0, alpha <= 1e6 else { throw .badValue(key: "alpha", value: "\(alpha)", expected: "a number in (0, 1e6]") }
        guard dropout.isFinite, dropout >= 0, dropout < 1 else { throw .badValue(key: "dropout", value: "\(dropout)", expected: "a number in [0, 1)") }
    }
}

/// One adapted linear layer: its Hugging Face module path and where its factors sit.
public struct LoRAModule: Sendable, Equatable {
    public let path: String          // e.g. model.layers.3.self_attn.q_proj
    public let layer: Int
    /// The module path inside the block: self_attn.q_proj, attn.c_attn, mlp.down_proj, …
    public let kind: String
    public let inFeatures: Int
    public let outFeatures: Int
    /// Where the layer's output sits in the model's (possibly fused) weight.
    public let slot: LinearSlot
    public let offsetA: Int          // A [r, in] at values[offsetA...]
    public let offsetB: Int          // B [out, r]

    public var peftKeyA: String { "base_model.model.\(path).lora_A.weight" }
    public var peftKeyB: String { "base_model.model.\(path).lora_B.weight" }
}

/// The adapter's state: configuration, layout and the flat parameter buffer.
public struct LoRAState: Sendable {
    public let config: LoRAConfig
    public let architecture: Architecture
    public let modules: [LoRAModule]
    public var values: [Float]

    /// Lays out factors for every linear layer whose path matches `config.targetModules`, A
    /// initialised from `seed`.
    public init(model c: ModelConfig, config: LoRAConfig, seed: UInt64) throws(AdapterError) {
        let (modules, targets) = try Self.layout(model: c, config: config)
        var cfg = config
        cfg.targetModules = targets
        self.config = cfg
        architecture = c.architecture
        self.modules = modules
        values = [Float](repeating: 0, count: modules.last.map { $0.offsetB + $0.outFeatures * config.r } ?? 0)
        var rng = SplitMix64(seed: seed)
        for m in modules {
            let bound = 1 / Float(m.inFeatures).squareRoot()
            for i in 0..<(config.r * m.inFeatures) { values[m.offsetA + i] = Float(rng.uniform() * 2 - 1) * bound }
        }
    }

    /// The factors' layout for a model, without allocating them: every linear layer whose path
    /// matches the targets (the defaults of the architecture when none are given), with the targets used.
    public static func layout(model c: ModelConfig, config: LoRAConfig) throws(AdapterError) -> (modules: [LoRAModule], targets: [String]) {
        try config.validate()
        let arch = c.architecture.descriptor
        let targets = config.targetModules.isEmpty ? arch.defaultLoRATargets : config.targetModules
        if let t = targets.first(where: { ["lm_head", "embed_tokens", "wte"].contains($0) }) { throw .unsupportedTarget(t) }
        let layers = arch.linears(c)
        // Size check before allocating: every factor of every layer, in Int arithmetic that cannot overflow.
        let perLayer = layers.reduce(0) { $0 + $1.inFeatures + $1.outFeatures }
        let (total, overflow) = perLayer.multipliedReportingOverflow(by: config.r * c.layers)
        guard !overflow, total <= 1 << 31 else { throw .tooLarge(parameters: overflow ? Int.max : total) }
        var modules: [LoRAModule] = [], offset = 0
        var matched = Set<String>()
        for layer in 0..<c.layers {
            for l in layers {
                let path = arch.path(layer: layer, module: l.module)
                guard let t = targets.first(where: { $0 == "all-linear" || path == $0 || path.hasSuffix("." + $0) }) else { continue }
                matched.insert(t)
                modules.append(LoRAModule(path: path, layer: layer, kind: l.module, inFeatures: l.inFeatures, outFeatures: l.outFeatures,
                                          slot: l.slot, offsetA: offset, offsetB: offset + config.r * l.inFeatures))
                offset += config.r * (l.inFeatures + l.outFeatures)
            }
        }
        // A rank above a layer's smaller dimension adds parameters but no expressiveness (PEFT would
        // accept it; it is almost always a typo, and it multiplies memory).
        if let narrow = modules.first(where: { config.r > min($0.inFeatures, $0.outFeatures) }) {
            throw .badValue(key: "r", value: "\(config.r)", expected: "at most \(min(narrow.inFeatures, narrow.outFeatures)), the smaller dimension of \(narrow.kind)")
        }
        let unmatched = Set(targets).subtracting(matched)
        guard unmatched.isEmpty else {
            throw .unmatchedTargets(unmatched.sorted(), architecture: c.architecture.rawValue, available: layers.map(\.module))
        }
        return (modules, targets)
    }

    /// The same factors with another configuration of the same layout (dropout off for evaluation).
    public init(_ s: LoRAState, dropout: Double) {
        var c = s.config
        c.dropout = dropout
        config = c
        architecture = s.architecture
        modules = s.modules
        values = s.values
    }

    public var parameterCount: Int { values.count }

    /// The modules of one layer that write into the in-memory weight `weight`, in forward order.
    public func modules(layer: Int, weight: String) -> [LoRAModule] {
        modules.filter { $0.layer == layer && $0.slot.weight == weight }
    }

    public func a(_ m: LoRAModule) -> ArraySlice<Float> { values[m.offsetA..<(m.offsetA + config.r * m.inFeatures)] }
    public func b(_ m: LoRAModule) -> ArraySlice<Float> { values[m.offsetB..<(m.offsetB + m.outFeatures * config.r)] }
}

/// What can go wrong with an adapter: each case names what was given and what would work.
public enum AdapterError: Error, Equatable, CustomStringConvertible {
    case badValue(key: String, value: String, expected: String)
    case unsupportedTarget(String)
    case unmatchedTargets([String], architecture: String, available: [String])
    case tooLarge(parameters: Int)
    case notAnAdapter(path: String)
    case badConfig(path: String, reason: String)
    case unsupported(path: String, feature: String)
    case missingTensors(path: String, module: String)
    case wrongShape(path: String, module: String, found: [[Int]], expected: [[Int]])
    case extraTensors(path: String, names: [String])
    case architectureMismatch(adapter: String, model: String)
    case io(path: String, reason: String)
    case nonFinite(path: String, tensor: String)

    public var description: String {
        switch self {
        case .nonFinite(let p, let t): return "\(p): \(t) holds NaN or infinite values; the adapter is corrupt (was training diverging?)."
        case .badValue(let k, let v, let e): return "lora.\(k) = \(v): expected \(e)."
        case .unsupportedTarget(let t):
            return "LoRA on the (tied) embedding / lm_head ('\(t)') is not supported; remove it from lora.target_modules."
        case .unmatchedTargets(let t, let a, let avail):
            return "lora.target_modules \(t) match no layer of this \(a) model; available: \(avail.joined(separator: ", ")) (or all-linear)."
        case .tooLarge(let n): return "the adapter would have \(n) parameters; lower lora.r or target fewer modules."
        case .notAnAdapter(let p): return "\(p): no adapter_config.json; is this a PEFT adapter directory (the run's final/ or checkpoint-STEP/)?"
        case .badConfig(let p, let r): return "\(p): \(r)."
        case .unsupported(let p, let f): return "\(p): \(f) is not supported; train a plain LoRA adapter (PEFT LoraConfig without it)."
        case .missingTensors(let p, let m): return "\(p): the adapter lacks lora_A/lora_B for \(m); is adapter_config.json's target_modules right?"
        case .wrongShape(let p, let m, let f, let e):
            return "\(p): \(m) has shapes \(f.map { "\($0)" }.joined(separator: " / ")), expected \(e.map { "\($0)" }.joined(separator: " / ")); is it for another model?"
        case .extraTensors(let p, let n): return "\(p): tensors that match no layer of this model: \(n.prefix(5).joined(separator: ", ")); is it for another model?"
        case .architectureMismatch(let a, let m): return "the adapter is for \(a), the model is \(m)."
        case .io(let p, let r): return "\(p): \(r)"
        }
    }
}

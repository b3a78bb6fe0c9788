// Model hyper-parameters, read from a Hugging Face `config.json` (each architecture's descriptor
// parses its own keys) or from GGUF metadata, in one value type shared by every architecture.
import ModelFormats
import Records

public enum ModelError: Error, CustomStringConvertible {
    case unsupportedArchitecture(path: String, found: String)
    case badConfig(path: String, reason: String)
    /// Strict loading: every problem with the tensor set, listed by name.
    case weights(path: String, missing: [String], unexpected: [String], misshaped: [String])
    case tokenOutOfRange(id: Int, vocabulary: Int)
    case contextExceeded(position: Int, limit: Int)
    case notAModel(path: String)
    /// A LoRA update addressed a weight the model does not have (an adapter for another architecture).
    case noSuchLinear(weight: String, layer: Int)
    case nonFiniteWeights(path: String, tensor: String)
    case shapeMismatch(expected: String, found: [Int])

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let p, let a):
            return "\(p): architecture '\(a)' is not supported (supported: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))."
        case .badConfig(let p, let r): return "\(p): bad model configuration: \(r)."
        case .weights(let p, let missing, let unexpected, let misshaped):
            var lines = ["\(p): the weights do not match the architecture:"]
            if !missing.isEmpty { lines.append("  missing: " + missing.prefix(12).joined(separator: ", ") + (missing.count > 12 ? " … (\(missing.count) in all)" : "")) }
            if !unexpected.isEmpty { lines.append("  unexpected: " + unexpected.prefix(12).joined(separator: ", ") + (unexpected.count > 12 ? " … (\(unexpected.count) in all)" : "")) }
            if !misshaped.isEmpty { lines.append("  wrong shape: " + misshaped.prefix(12).joined(separator: "; ")) }
            lines.append("  Is the checkpoint for a different architecture or size than its config says?")
            return lines.joined(separator: "\n")
        case .tokenOutOfRange(let id, let v): return "token id \(id) is outside the vocabulary (0..<\(v))."
        case .contextExceeded(let p, let l): return "position \(p) exceeds the model's context length \(l); use a shorter prompt or fewer new tokens."
        case .nonFiniteWeights(let p, let t): return "\(p): tensor \(t) holds NaN or infinite values; the file is corrupt. Download or convert it again."
        case .noSuchLinear(let w, let l): return "block \(l) has no linear weight '\(w)'; is the adapter for another architecture or size?"
        case .shapeMismatch(let e, let f): return "a weight update of shape \(f) does not fit \(e); is the adapter for another model size?"
        case .notAModel(let p):
            return "\(p): not a model. Give a .gguf file or a directory with config.json, *.safetensors and tokenizer.json."
        }
    }
}

public struct ModelConfig: Sendable, Equatable {
    public var architecture: Architecture
    public var vocabSize: Int
    public var hidden: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var intermediate: Int
    public var contextLength: Int
    public var ropeTheta: Float
    public var normEps: Float
    public var tieEmbeddings: Bool

    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }

    /// Checks the numbers hang together before any buffer is sized from them.
    public func validate(path: String) throws {
        func bad(_ r: String) -> ModelError { .badConfig(path: path, reason: r) }
        for (name, v) in [("vocab_size", vocabSize), ("hidden_size", hidden), ("num_hidden_layers", layers),
                          ("num_attention_heads", heads), ("num_key_value_heads", kvHeads), ("head_dim", headDim),
                          ("intermediate_size", intermediate), ("max_position_embeddings", contextLength)] {
            guard v > 0, v <= 1 << 24 else { throw bad("\(name) = \(v)") }
        }
        // Sizes that buffers are made from before any tensor is read: bounded far above any real model
        // (Llama 3 405B: 126 layers, 16,384 hidden), so a lying header cannot ask for terabytes.
        guard layers <= 4096 else { throw bad("num_hidden_layers = \(layers) (more than 4096)") }
        guard qDim <= 1 << 20, kvDim <= 1 << 20 else { throw bad("heads × head_dim = \(qDim) (more than 1,048,576)") }
        guard heads % kvHeads == 0 else { throw bad("\(heads) attention heads is not a multiple of \(kvHeads) key/value heads") }
        guard headDim % 2 == 0 else { throw bad("head_dim \(headDim) must be even for rotary embeddings") }
        if !architecture.descriptor.usesRoPE { guard hidden == qDim else { throw bad("\(architecture) needs hidden size = heads × head_dim") } }
        guard normEps > 0, normEps < 1 else { throw bad("norm epsilon \(normEps)") }
        if architecture.descriptor.usesRoPE { guard ropeTheta.isFinite, ropeTheta > 1 else { throw bad("rope_theta \(ropeTheta) (must be a finite number > 1)") } }
    }

    // MARK: Hugging Face config.json

    public static func huggingFace(_ json: JSONValue, path: String) throws -> ModelConfig {
        let type = json["model_type"]?.string ?? "?"
        guard let arch = ArchitectureDescriptor.named(type) else { throw ModelError.unsupportedArchitecture(path: path, found: type) }
        let c = try arch.parseConfig(json, path)
        try c.validate(path: path)
        return c
    }

    /// Reads integer keys of a config.json, the first present of several spellings.
    package struct Keys {
        let json: JSONValue
        let path: String
        package init(_ json: JSONValue, path: String) { self.json = json; self.path = path }
        package func int(_ keys: String...) -> Int? { keys.lazy.compactMap { json[$0]?.int }.first }
        package func need(_ keys: String...) throws -> Int {
            guard let v = keys.lazy.compactMap({ json[$0]?.int }).first else {
                throw ModelError.badConfig(path: path, reason: "missing \(keys.joined(separator: " or "))")
            }
            return v
        }
    }

    // MARK: GGUF metadata

    public static func gguf(_ file: GGUFFile) throws -> ModelConfig {
        let path = file.path
        let type = file.architecture ?? "?"
        guard let arch = ArchitectureDescriptor.named(type) else { throw ModelError.unsupportedArchitecture(path: path, found: type) }
        func need(_ key: String) throws -> Int {
            guard let v = file.int("\(type).\(key)") else { throw ModelError.badConfig(path: path, reason: "missing metadata \(type).\(key)") }
            return v
        }
        let C = try need("embedding_length"), H = try need("attention.head_count")
        let vocab = file.metadata["tokenizer.ggml.tokens"]?.array?.count ?? file.info("token_embd.weight")?.shape.first ?? 0
        let eps = file.double("\(type).attention.layer_norm_rms_epsilon") ?? file.double("\(type).attention.layer_norm_epsilon") ?? 1e-5
        let c = ModelConfig(
            architecture: arch.id, vocabSize: vocab, hidden: C, layers: try need("block_count"), heads: H,
            kvHeads: file.int("\(type).attention.head_count_kv") ?? H,
            headDim: file.int("\(type).attention.key_length") ?? C / max(H, 1),
            intermediate: try need("feed_forward_length"), contextLength: try need("context_length"),
            ropeTheta: !arch.usesRoPE ? 0 : Float(file.double("\(type).rope.freq_base") ?? 10000), normEps: Float(eps),
            tieEmbeddings: file.info("output.weight") == nil)
        try c.validate(path: path)
        return c
    }
}

extension ModelConfig {
    /// Architectures by name, for planning a run on a model that is not on this machine (its
    /// config.json numbers; Qwen3 from its model cards, SmolLM2 from the GGUF shipped here).
    public static let presets: [(name: String, config: ModelConfig)] = [
        ("qwen3-0.6b", qwen3(hidden: 1024, layers: 28, heads: 16, intermediate: 3072, tied: true)),
        ("qwen3-1.7b", qwen3(hidden: 2048, layers: 28, heads: 16, intermediate: 6144, tied: true)),
        ("qwen3-4b", qwen3(hidden: 2560, layers: 36, heads: 32, intermediate: 9728, tied: true)),
        ("qwen3-8b", qwen3(hidden: 4096, layers: 36, heads: 32, intermediate: 12288, tied: false)),
        ("smollm2-135m", ModelConfig(architecture: .llama, vocabSize: 49152, hidden: 576, layers: 30, heads: 9, kvHeads: 3, headDim: 64,
                                     intermediate: 1536, contextLength: 8192, ropeTheta: 100_000, normEps: 1e-5, tieEmbeddings: true)),
    ]

    public static func preset(_ name: String) -> ModelConfig? { presets.first { $0.name == name.lowercased() }?.config }

    static func qwen3(hidden: Int, layers: Int, heads: Int, intermediate: Int, tied: Bool) -> ModelConfig {
        ModelConfig(architecture: .qwen3, vocabSize: 151_936, hidden: hidden, layers: layers, heads: heads, kvHeads: 8, headDim: 128,
                    intermediate: intermediate, contextLength: 40_960, ropeTheta: 1_000_000, normEps: 1e-6, tieEmbeddings: tied)
    }
}

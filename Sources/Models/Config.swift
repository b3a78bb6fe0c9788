// Model hyper-parameters, read from a Hugging Face `config.json` or from GGUF metadata, in one
// value type shared by the three architectures.
import ModelFormats

public enum Architecture: String, Sendable, CaseIterable {
    case gpt2, llama, qwen3
}

public enum ModelError: Error, CustomStringConvertible {
    case unsupportedArchitecture(path: String, found: String)
    case badConfig(path: String, reason: String)
    /// Strict loading: every problem with the tensor set, listed by name.
    case weights(path: String, missing: [String], unexpected: [String], misshaped: [String])
    case tokenOutOfRange(id: Int, vocabulary: Int)
    case contextExceeded(position: Int, limit: Int)
    case notAModel(path: String)

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
        guard heads % kvHeads == 0 else { throw bad("\(heads) attention heads is not a multiple of \(kvHeads) key/value heads") }
        guard headDim % 2 == 0 else { throw bad("head_dim \(headDim) must be even for rotary embeddings") }
        if architecture == .gpt2 { guard hidden == qDim else { throw bad("GPT-2 needs n_embd = heads × head_dim") } }
        guard normEps > 0, normEps < 1 else { throw bad("norm epsilon \(normEps)") }
    }

    // MARK: Hugging Face config.json

    public static func huggingFace(_ json: JSONValue, path: String) throws -> ModelConfig {
        func int(_ keys: String...) -> Int? { keys.lazy.compactMap { json[$0]?.int }.first }
        func need(_ keys: String...) throws -> Int {
            guard let v = keys.lazy.compactMap({ json[$0]?.int }).first else {
                throw ModelError.badConfig(path: path, reason: "missing \(keys.joined(separator: " or "))")
            }
            return v
        }
        let type = json["model_type"]?.string ?? "?"
        guard let arch = Architecture(rawValue: type) else { throw ModelError.unsupportedArchitecture(path: path, found: type) }
        var c: ModelConfig
        switch arch {
        case .gpt2:
            let C = try need("n_embd"), H = try need("n_head")
            c = ModelConfig(architecture: .gpt2, vocabSize: try need("vocab_size"), hidden: C, layers: try need("n_layer"),
                            heads: H, kvHeads: H, headDim: C / max(H, 1), intermediate: int("n_inner") ?? 4 * C,
                            contextLength: try need("n_positions", "n_ctx"), ropeTheta: 0,
                            normEps: Float(json["layer_norm_epsilon"]?.double ?? 1e-5), tieEmbeddings: true)
            if let act = json["activation_function"]?.string, act != "gelu_new" {
                throw ModelError.badConfig(path: path, reason: "activation_function '\(act)' (only gelu_new is implemented)")
            }
        case .llama, .qwen3:
            let C = try need("hidden_size"), H = try need("num_attention_heads")
            // transformers ≥ 5 nests rope_theta in rope_parameters; older configs have it at the top.
            let theta = json["rope_theta"]?.double ?? json["rope_parameters"]?["rope_theta"]?.double ?? 10000
            if let scaling = json["rope_scaling"] ?? json["rope_parameters"], let kind = scaling["rope_type"]?.string ?? scaling["type"]?.string,
               kind != "default" {
                throw ModelError.badConfig(path: path, reason: "rope scaling '\(kind)' is not implemented")
            }
            c = ModelConfig(architecture: arch, vocabSize: try need("vocab_size"), hidden: C, layers: try need("num_hidden_layers"),
                            heads: H, kvHeads: int("num_key_value_heads") ?? H, headDim: int("head_dim") ?? C / max(H, 1),
                            intermediate: try need("intermediate_size"), contextLength: int("max_position_embeddings") ?? 2048,
                            ropeTheta: Float(theta), normEps: Float(json["rms_norm_eps"]?.double ?? 1e-6),
                            tieEmbeddings: json["tie_word_embeddings"]?.bool ?? (arch == .qwen3))
            if let act = json["hidden_act"]?.string, act != "silu" {
                throw ModelError.badConfig(path: path, reason: "hidden_act '\(act)' (only silu is implemented)")
            }
            if json["attention_bias"]?.bool == true || json["mlp_bias"]?.bool == true {
                throw ModelError.badConfig(path: path, reason: "attention/MLP biases are not implemented for \(type)")
            }
        }
        try c.validate(path: path)
        return c
    }

    // MARK: GGUF metadata

    public static func gguf(_ file: GGUFFile) throws -> ModelConfig {
        let path = file.path
        let type = file.architecture ?? "?"
        guard let arch = Architecture(rawValue: type) else { throw ModelError.unsupportedArchitecture(path: path, found: type) }
        func need(_ key: String) throws -> Int {
            guard let v = file.int("\(type).\(key)") else { throw ModelError.badConfig(path: path, reason: "missing metadata \(type).\(key)") }
            return v
        }
        let C = try need("embedding_length"), H = try need("attention.head_count")
        let vocab = file.metadata["tokenizer.ggml.tokens"]?.array?.count ?? file.info("token_embd.weight")?.shape.first ?? 0
        let eps = file.double("\(type).attention.layer_norm_rms_epsilon") ?? file.double("\(type).attention.layer_norm_epsilon") ?? 1e-5
        var c = ModelConfig(
            architecture: arch, vocabSize: vocab, hidden: C, layers: try need("block_count"), heads: H,
            kvHeads: file.int("\(type).attention.head_count_kv") ?? H,
            headDim: file.int("\(type).attention.key_length") ?? C / max(H, 1),
            intermediate: try need("feed_forward_length"), contextLength: try need("context_length"),
            ropeTheta: arch == .gpt2 ? 0 : Float(file.double("\(type).rope.freq_base") ?? 10000), normEps: Float(eps),
            tieEmbeddings: file.info("output.weight") == nil)
        try c.validate(path: path)
        return c
    }
}

// Opening a model from disk: a `.gguf` file, or a Hugging Face directory with config.json,
// *.safetensors and tokenizer.json. Returns the network, its tokenizer and its chat template.
import ModelFormats
import Records
import Tokenization

public struct LoadedModel: Sendable {
    public let path: String
    public let model: any CausalLM
    public let tokenizer: Tokenizer
    /// Jinja source of the model's chat template, if it ships one.
    public let chatTemplate: String?
    /// Token ids that end a turn (eos, and for chat models the end-of-turn marker).
    public let stopTokenIds: Set<Int>
    /// Human-readable facts for `strawberry inspect`.
    public let summary: [(String, String)]

    public var config: ModelConfig { model.config }

    /// The same model files with other weights (an adapter folded in).
    public func replacing(model: any CausalLM) -> LoadedModel {
        LoadedModel(path: path, model: model, tokenizer: tokenizer, chatTemplate: chatTemplate, stopTokenIds: stopTokenIds, summary: summary)
    }

    /// `precision`: float32 everywhere (the default: training and the reference numerics), a GGUF
    /// file's blocks kept (`.native`), or every matrix quantised to Q8_0 at load.
    public static func load(path: String, precision: WeightPrecision = .f32) throws -> LoadedModel {
        let m: LoadedModel
        if isDirectory(path) { m = try loadDirectory(path, precision) } else {
            guard fileExists(path) else { throw ModelFormatError.fileNotFound(path: path) }
            // A Hugging Face checkpoint is a directory; one of its files alone is not a model.
            if [".safetensors", ".json", ".bin", ".jinja"].contains(where: { path.hasSuffix($0) }) { throw ModelError.notAModel(path: path) }
            m = try loadGGUF(path, precision)
        }
        return LoadedModel(path: m.path, model: m.model, tokenizer: m.tokenizer, chatTemplate: m.chatTemplate, stopTokenIds: m.stopTokenIds,
                           summary: m.summary + [("weights in memory", "\(precision.rawValue): \(m.model.memorySummary)")])
    }

    static func build(_ c: ModelConfig, _ source: WeightSource, _ precision: WeightPrecision) throws -> any CausalLM {
        // The layer count is checked against the blocks the file holds before anything is sized from it.
        let blocks = Set(source.names.compactMap { name in name.split(separator: ".").lazy.compactMap { Int($0) }.first })
        guard blocks.count == c.layers, blocks.allSatisfy({ (0..<c.layers).contains($0) }) else {
            throw ModelError.badConfig(path: source.path, reason: "the configuration says \(c.layers) layers, the weights hold \(blocks.count) blocks")
        }
        return try c.architecture.descriptor.load(c, source, precision)
    }

    static func loadGGUF(_ path: String, _ precision: WeightPrecision) throws -> LoadedModel {
        let file = try GGUFFile(path: path)
        let config = try ModelConfig.gguf(file)
        let tokenizer = try Tokenizer.gguf(file)
        let model = try build(config, GGUFSource(file: file, config: config), precision)
        var stops = Set<Int>()
        if let e = tokenizer.eosId { stops.insert(e) }
        if let e = tokenizer.id(of: "<|im_end|>") { stops.insert(e) }
        var types: [String: Int] = [:]
        for t in file.tensors { types[t.type.name, default: 0] += 1 }
        return LoadedModel(
            path: path, model: model, tokenizer: tokenizer, chatTemplate: file.string("tokenizer.chat_template"),
            stopTokenIds: stops,
            summary: [("format", "GGUF v\(file.version)"), ("name", file.string("general.name") ?? "-"),
                      ("tensor types", types.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")),
                      ("tokenizer", "byte-level BPE, \(tokenizer.vocabularySize) tokens, pre-tokenizer \(tokenizer.preTokenizer.rawValue)")])
    }

    /// The chat template of a `.gguf` file or a model directory, read without the weights.
    public static func chatTemplate(at path: String) throws -> String? {
        if path.hasSuffix(".gguf") { return try GGUFFile(path: path).string("tokenizer.chat_template") }
        return try chatTemplate(directory: path).template
    }

    /// A model directory's chat template — from tokenizer_config.json, else chat_template.jinja — and
    /// its parsed tokenizer_config.json. A broken file is an error, not a silently missing template.
    static func chatTemplate(directory dir: String) throws -> (template: String?, tokenizerConfig: JSONValue?) {
        var template: String? = nil, tc: JSONValue? = nil
        let path = dir + "/tokenizer_config.json"
        if fileExists(path) {
            do { tc = try JSONParser.parse(try readText(path)) } catch { throw ModelError.badConfig(path: path, reason: "\(error)") }
            if let t = tc?["chat_template"], t != .null, t.string == nil {
                throw ModelError.badConfig(path: path, reason: "chat_template is not a string (a list of named templates is not supported)")
            }
            template = tc?["chat_template"]?.string
        }
        if template == nil, fileExists(dir + "/chat_template.jinja") { template = try readText(dir + "/chat_template.jinja") }
        return (template, tc)
    }

    /// The configuration of a `.gguf` file or a model directory, read (and checked) without the
    /// weights: what planning and an adapter's shape check need.
    public static func config(at path: String) throws -> ModelConfig {
        isDirectory(path) ? try directoryConfig(path).config : try ModelConfig.gguf(GGUFFile(path: path))
    }

    /// config.json read and checked, with its JSON (loading also reads eos_token_id from it).
    static func directoryConfig(_ dir: String) throws -> (config: ModelConfig, json: JSONValue) {
        let configPath = dir + "/config.json"
        guard fileExists(configPath) else { throw ModelError.notAModel(path: dir) }
        let json: JSONValue
        do { json = try JSONParser.parse(try readText(configPath)) } catch let e as ModelFormatError { throw e } catch {
            throw ModelError.badConfig(path: configPath, reason: "\(error)")
        }
        return (try ModelConfig.huggingFace(json, path: configPath), json)
    }

    static func loadDirectory(_ dir: String, _ precision: WeightPrecision) throws -> LoadedModel {
        let (config, json) = try directoryConfig(dir)
        let tokenizerPath = dir + "/tokenizer.json"
        guard fileExists(tokenizerPath) else { throw ModelError.notAModel(path: dir) }
        var tokenizer = try Tokenizer.huggingFace(path: tokenizerPath)
        let source = try SafetensorsSource(directory: dir)
        let model = try build(config, source, precision)

        // tokenizer_config.json (or chat_template.jinja) carries the template and the special tokens' roles.
        let (template, tokenizerConfig) = try chatTemplate(directory: dir)
        var stops = Set<Int>()
        if let tc = tokenizerConfig {
            if let eos = tc["eos_token"]?.string ?? tc["eos_token"]?["content"]?.string, let id = tokenizer.id(of: eos) {
                tokenizer.eosId = id
            }
            if let bos = tc["bos_token"]?.string ?? tc["bos_token"]?["content"]?.string, let id = tokenizer.id(of: bos) {
                tokenizer.bosId = id
            }
            tokenizer.addBos = tc["add_bos_token"]?.bool ?? false
        }
        for key in ["eos_token_id"] {
            if let v = json[key]?.int { stops.insert(v) }
            for v in json[key]?.array ?? [] { if let i = v.int { stops.insert(i) } }
        }
        if let e = tokenizer.eosId { stops.insert(e) }
        if let e = tokenizer.id(of: "<|im_end|>") { stops.insert(e) }
        let shards = source.checkpoint.files.count
        return LoadedModel(
            path: dir, model: model, tokenizer: tokenizer, chatTemplate: template, stopTokenIds: stops,
            summary: [("format", "Hugging Face safetensors (\(shards) file\(shards == 1 ? "" : "s"))"),
                      ("dtypes", Set(source.checkpoint.files.flatMap { $0.tensors.map(\.dtype.rawValue) }).sorted().joined(separator: ", ")),
                      ("tokenizer", "byte-level BPE, \(tokenizer.vocabularySize) tokens, pre-tokenizer \(tokenizer.preTokenizer.rawValue)")])
    }
}

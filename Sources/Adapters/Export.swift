// `strawberry merge`: a Hugging Face model directory (config.json, model.safetensors, tokenizer
// files) from a base model with an adapter folded in, loadable by transformers. Weights go back
// to Hugging Face names and layouts: fused q|k|v and gate|up are split, GPT-2's Conv1D weights are
// transposed back to [in, out]. From a GGUF source, tokenizer.json is rebuilt from its vocabulary.
import Foundation
import ModelFormats
import Records
import Models
import TensorCore
import Tokenization

public enum HFExport {
    /// Writes the model as a Hugging Face directory at `dir`, assembled under a temporary name and
    /// renamed into place. An existing directory is replaced only with `overwrite` and only when it
    /// is an earlier `merge` output (its `.strawberry` marker says so); a model folder never is.
    public static func write(_ model: any CausalLM, tokenizer: Tokenizer, chatTemplate: String?, sourcePath: String, to dir: String,
                             overwrite: Bool = false, inputs: [String] = []) throws {
        let out = try OutputDirectory.begin(dir, kind: .export, replace: overwrite, inputs: [sourcePath] + inputs)
        try out.fill { try assemble(model, tokenizer: tokenizer, chatTemplate: chatTemplate, sourcePath: sourcePath, in: out.staging) }
    }

    static func assemble(_ model: any CausalLM, tokenizer: Tokenizer, chatTemplate: String?, sourcePath: String, in tmp: String) throws {
        let fm = FileManager.default
        var t: [String: (shape: [Int], data: [Float])] = [:]
        for (name, x) in model.huggingFaceTensors() { t[name] = (x.shape, x.storage) }
        try SafetensorsWriter.write(t, to: tmp + "/model.safetensors")
        try writeTextAtomically(try JSONText.string(configJSON(model.config, tokenizer), pretty: true) + "\n", to: tmp + "/config.json")

        // Tokenizer: copy a Hugging Face source's files, or rebuild tokenizer.json from the vocabulary.
        var copied = false
        if isDirectory(sourcePath) {
            for name in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"] where fileExists(sourcePath + "/" + name) {
                try fm.copyItem(atPath: sourcePath + "/" + name, toPath: tmp + "/" + name)
                copied = true
            }
        }
        if !copied {
            try writeTextAtomically(try JSONText.string(tokenizerJSON(tokenizer)) + "\n", to: tmp + "/tokenizer.json")
            var tc: [(String, JSONValue)] = [("tokenizer_class", .string("PreTrainedTokenizerFast")), ("add_bos_token", .bool(tokenizer.addBos)),
                                             ("clean_up_tokenization_spaces", .bool(false))]
            if let e = tokenizer.eosId, let s = tokenizer.token(e) { tc.append(("eos_token", .string(s))) }
            if let b = tokenizer.bosId, let s = tokenizer.token(b) { tc.append(("bos_token", .string(s))) }
            if let p = tokenizer.padId, let s = tokenizer.token(p) { tc.append(("pad_token", .string(s))) }
            if let chatTemplate { tc.append(("chat_template", .string(chatTemplate))) }
            try writeTextAtomically(try JSONText.string(.object(tc), pretty: true) + "\n", to: tmp + "/tokenizer_config.json")
        }
    }

    static func configJSON(_ c: ModelConfig, _ tok: Tokenizer) -> JSONValue {
        var j: [(String, JSONValue)] = [("vocab_size", .int(c.vocabSize)), ("torch_dtype", .string("float32")), ("tie_word_embeddings", .bool(c.tieEmbeddings))]
        if let b = tok.bosId { j.append(("bos_token_id", .int(b))) }
        if let e = tok.eosId { j.append(("eos_token_id", .int(e))) }
        return .object(j + c.architecture.descriptor.exportConfig(c))
    }

    static func tokenizerJSON(_ t: Tokenizer) -> JSONValue {
        func obj(_ kv: [(String, JSONValue)]) -> JSONValue { .object(kv) }
        let byteLevel = obj([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])
        let pre: JSONValue
        switch t.preTokenizer {
        case .gpt2: pre = byteLevel
        case .smollm:
            pre = obj([("type", .string("Sequence")), ("pretokenizers", .array([obj([("type", .string("Digits")), ("individual_digits", .bool(true))]), byteLevel]))])
        case .qwen2:
            pre = obj([("type", .string("Sequence")), ("pretokenizers", .array([
                obj([("type", .string("Split")), ("pattern", obj([("Regex", .string(Tokenizer.qwen2Pattern))])), ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                obj([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(false)), ("use_regex", .bool(false))])]))])
        }
        var vocab: [String: Int] = [:]
        for (i, tok) in t.bpe.tokens.enumerated() where t.addedById[i] == nil && !tok.hasPrefix("<unused_") { vocab[tok] = i }
        let added: [JSONValue] = t.addedTokens.sorted { $0.id < $1.id }.map {
            obj([("id", .int($0.id)), ("content", .string($0.content)), ("single_word", .bool(false)), ("lstrip", .bool(false)), ("rstrip", .bool(false)),
                 ("normalized", .bool(false)), ("special", .bool(t.specialIds.contains($0.id)))])
        }
        for a in t.addedTokens { vocab[a.content] = a.id }
        let postAndDecoder = obj([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(false)), ("use_regex", .bool(true))])
        return obj([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", t.normalizer == .nfc ? obj([("type", .string("NFC"))]) : .null),
            ("pre_tokenizer", pre), ("post_processor", postAndDecoder),
            ("decoder", obj([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", obj([("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .string("")),
                           ("end_of_word_suffix", .string("")), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                           ("ignore_merges", .bool(t.ignoreMerges)), ("vocab", .object(vocab.map { ($0.key, .int($0.value)) })),
                           ("merges", .array(t.bpe.mergeList.map { .array([.string($0.0), .string($0.1)]) }))])),
        ])
    }
}

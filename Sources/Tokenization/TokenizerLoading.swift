// Building a Tokenizer from the four places byte-level BPE vocabularies live:
//   (a) GPT-2's encoder.json + vocab.bpe, (b) Hugging Face tokenizer.json, (c) GGUF tokenizer.ggml.* metadata,
//   (d) a tiktoken rank file (Qwen2/Qwen3's qwen.tiktoken).
import Foundation
import ModelFormats
import Records

extension Tokenizer {
    /// A tokenizer from wherever it lives: a `.gguf` file, GPT-2's `encoder.json` (with `vocab.bpe`
    /// beside it) or a directory holding them, a `tokenizer.json`, or a model directory holding one.
    public static func load(path: String) throws -> Tokenizer {
        if path.hasSuffix(".gguf") { return try gguf(GGUFFile(path: path)) }
        if path.hasSuffix(".tiktoken") { return try tiktoken(path: path) }
        let dir = path.hasSuffix("encoder.json") ? String(path.dropLast("encoder.json".count)) : path + "/"
        if fileExists(dir + "encoder.json") && fileExists(dir + "vocab.bpe") {
            return try gpt2(encoderPath: dir + "encoder.json", mergesPath: dir + "vocab.bpe")
        }
        if path.hasSuffix(".json") { return try huggingFace(path: path) }
        if fileExists(path + "/tokenizer.json") { return try huggingFace(path: path + "/tokenizer.json") }
        guard fileExists(path) else { throw ModelFormatError.fileNotFound(path: path) }
        throw TokenizerError.unsupported(path: path, reason: "expected a .gguf file, GPT-2's encoder.json + vocab.bpe, or a tokenizer.json")
    }

    /// The regex Qwen2/Qwen3 tokenizer.json files give their Split pre-tokenizer.
    public static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// (a) OpenAI GPT-2 files: `encoder.json` (token → id) and `vocab.bpe` (one merge per line).
    public static func gpt2(encoderPath: String, mergesPath: String) throws -> Tokenizer {
        let json = try parseJSONFile(encoderPath)
        guard let entries = json.object else { throw TokenizerError.malformed(path: encoderPath, reason: "not a JSON object of token → id") }
        let tokens = try tokenTable(entries.map { ($0.0, $0.1.int) }, path: encoderPath)
        let merges = try parseMergeLines(try readText(mergesPath), path: mergesPath)
        let bpe = try buildBPE(tokens: tokens, merges: merges, path: mergesPath)
        var t = Tokenizer(bpe: bpe, preTokenizer: .gpt2)
        if let eot = bpe.vocab["<|endoftext|>"] {
            t = Tokenizer(bpe: bpe, preTokenizer: .gpt2, addedTokens: [("<|endoftext|>", eot)], specialIds: [eot])
            t.bosId = eot
            t.eosId = eot
        }
        return t
    }

    /// (b) A Hugging Face `tokenizer.json` with a byte-level BPE model.
    public static func huggingFace(path: String) throws -> Tokenizer {
        let json = try parseJSONFile(path)
        guard let model = json["model"], model["type"]?.string ?? "BPE" == "BPE" else {
            throw TokenizerError.unsupported(path: path, reason: "model type \(json["model"]?["type"]?.string ?? "?"); only BPE is supported")
        }
        if model["byte_fallback"]?.bool == true {
            throw TokenizerError.unsupported(path: path, reason: "byte_fallback BPE (SentencePiece-style) is not byte-level BPE")
        }
        guard let vocab = model["vocab"]?.object else { throw TokenizerError.malformed(path: path, reason: "model.vocab missing") }
        var pairs = vocab.map { ($0.0, $0.1.int) }
        var added: [(String, Int)] = []
        var special: Set<Int> = []
        for a in json["added_tokens"]?.array ?? [] {
            guard let content = a["content"]?.string, let id = a["id"]?.int else {
                throw TokenizerError.malformed(path: path, reason: "an added_tokens entry lacks content or id")
            }
            added.append((content, id))
            if a["special"]?.bool == true { special.insert(id) }
            if vocab.first(where: { $0.0 == content }) == nil { pairs.append((content, id)) }
        }
        let tokens = try tokenTable(pairs, path: path)
        var merges: [(String, String)] = []
        for (i, m) in (model["merges"]?.array ?? []).enumerated() {
            if let s = m.string {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw TokenizerError.malformed(path: path, reason: "merge \(i) '\(s)' is not two tokens") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let a = m.array, a.count == 2, let l = a[0].string, let r = a[1].string {
                merges.append((l, r))
            } else {
                throw TokenizerError.malformed(path: path, reason: "merge \(i) is neither \"a b\" nor [a, b]")
            }
        }
        let bpe = try buildBPE(tokens: tokens, merges: merges, path: path)
        var t = Tokenizer(bpe: bpe, preTokenizer: try preTokenizer(json["pre_tokenizer"], path: path),
                          normalizer: try normalizer(json["normalizer"], path: path), addedTokens: added, specialIds: special)
        t.ignoreMerges = model["ignore_merges"]?.bool ?? false
        return t
    }

    /// (c) `tokenizer.ggml.*` metadata of a GGUF file (model "gpt2" = byte-level BPE).
    public static func gguf(_ file: GGUFFile) throws -> Tokenizer {
        let path = file.path
        guard let kind = file.string("tokenizer.ggml.model") else { throw TokenizerError.malformed(path: path, reason: "no tokenizer.ggml.model") }
        guard kind == "gpt2" else {
            throw TokenizerError.unsupported(path: path, reason: "tokenizer.ggml.model '\(kind)'; only 'gpt2' (byte-level BPE) is supported")
        }
        guard let tokenValues = file.metadata["tokenizer.ggml.tokens"]?.array else {
            throw TokenizerError.malformed(path: path, reason: "no tokenizer.ggml.tokens array")
        }
        let tokens = try tokenValues.enumerated().map { i, v -> String in
            guard let s = v.string else { throw TokenizerError.malformed(path: path, reason: "token \(i) is not a string") }
            return s
        }
        let types = file.metadata["tokenizer.ggml.token_type"]?.array?.map { $0.int ?? 1 } ?? []
        // One type per token (llama.cpp's rule); a longer or shorter array is a broken file, not an index to trust.
        guard types.isEmpty || types.count == tokens.count else {
            throw TokenizerError.malformed(path: path, reason: "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let mergeLines = try (file.metadata["tokenizer.ggml.merges"]?.array ?? []).enumerated().map { i, v -> (String, String) in
            guard let s = v.string else { throw TokenizerError.malformed(path: path, reason: "merge \(i) is not a string") }
            let parts = s.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TokenizerError.malformed(path: path, reason: "merge \(i) '\(s)' is not two tokens") }
            return (String(parts[0]), String(parts[1]))
        }
        let bpe = try buildBPE(tokens: tokens, merges: mergeLines, path: path)
        // Control (3) and user-defined (4) tokens are matched verbatim in text, as llama.cpp does.
        var added: [(String, Int)] = []
        var special: Set<Int> = []
        for (i, ty) in types.enumerated() where ty == 3 || ty == 4 {
            added.append((tokens[i], i))
            if ty == 3 { special.insert(i) }
        }
        let pre: PreTokenizer, norm: Normalizer
        switch file.string("tokenizer.ggml.pre") ?? "default" {
        case "default", "gpt-2", "gpt2": (pre, norm) = (.gpt2, .none)
        case "smollm": (pre, norm) = (.smollm, .none)
        case "qwen2": (pre, norm) = (.qwen2, .nfc)
        case let other:
            throw TokenizerError.unsupported(path: path, reason: "pre-tokenizer '\(other)'; supported: gpt-2, smollm, qwen2")
        }
        var t = Tokenizer(bpe: bpe, preTokenizer: pre, normalizer: norm, addedTokens: added, specialIds: special)
        func id(_ key: String) -> Int? { file.int("tokenizer.ggml." + key).flatMap { $0 < tokens.count ? $0 : nil } }
        t.bosId = id("bos_token_id")
        t.eosId = id("eos_token_id")
        t.padId = id("padding_token_id")
        t.addBos = file.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
        return t
    }

    /// Qwen2/Qwen3's special tokens, in id order from `qwenSpecialStart`, as Qwen3's tokenizer.json
    /// lists them; the first 14 are special (skipped when decoding), the rest (tool calls, fill-in-the-
    /// middle markers, <think> and </think>) are ordinary added tokens that decoding keeps.
    public static let qwen3AddedTokens = [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
        "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
        "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
        "<tool_response>", "</tool_response>", "<think>", "</think>",
    ]
    public static let qwenSpecialStart = 151_643
    static let qwen3SpecialCount = 14

    /// (d) A tiktoken rank file: one `base64(token bytes) rank` per line, ranks 0..<n. tiktoken merges,
    /// in a piece, the adjacent pair whose concatenation has the lowest rank; the same as byte-level
    /// BPE whose merges are every split of a token into two tokens, ranked by that token's rank. The
    /// file holds neither the pre-tokenizer pattern nor the special tokens, so only the vocabulary
    /// whose are known is accepted: Qwen2/Qwen3's 151,643 ranks (Qwen2's pattern; Qwen3's added
    /// tokens from id 151643; no normalisation, as tiktoken).
    public static func tiktoken(path: String) throws -> Tokenizer {
        let f = try MappedFile(path: path)
        var byRank: [[UInt8]?] = []
        var lineNumber = 0
        for line in f.bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            lineNumber += 1
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count == 2, let rankText = String(bytes: fields[1].filter { $0 != UInt8(ascii: "\r") }, encoding: .ascii),
                  let rank = Int(rankText), let token = Data(base64Encoded: Data(fields[0])), !token.isEmpty else {
                throw TokenizerError.malformed(path: path, reason: "line \(lineNumber) is not 'BASE64 RANK'")
            }
            // Ranks are dense ids; one beyond the lines read so far is a hole or a huge number to allocate.
            guard rank >= 0, rank < 2_000_000 else { throw TokenizerError.malformed(path: path, reason: "line \(lineNumber): rank \(rank) is out of range") }
            if rank >= byRank.count { byRank += [[UInt8]?](repeating: nil, count: rank + 1 - byRank.count) }
            guard byRank[rank] == nil else { throw TokenizerError.malformed(path: path, reason: "line \(lineNumber): rank \(rank) is given twice") }
            byRank[rank] = [UInt8](token)
        }
        if let hole = byRank.firstIndex(where: { $0 == nil }) {
            throw TokenizerError.malformed(path: path, reason: "rank \(hole) is missing (ranks must be 0..<n)")
        }
        let ranked = byRank.compactMap { $0 }
        guard ranked.count == qwenSpecialStart else {
            throw TokenizerError.unsupported(path: path, reason: "\(ranked.count) ranks; only Qwen2/Qwen3's vocabulary (\(qwenSpecialStart) ranks) is known (a rank file holds neither its pre-tokenizer pattern nor its special tokens)")
        }
        var idOfBytes: [[UInt8]: Int] = [:]
        idOfBytes.reserveCapacity(ranked.count)
        for (i, b) in ranked.enumerated() {
            guard idOfBytes.updateValue(i, forKey: b) == nil else { throw TokenizerError.malformed(path: path, reason: "rank \(i) repeats an earlier token") }
        }
        for b in 0...255 where idOfBytes[[UInt8(b)]] == nil {
            throw TokenizerError.malformed(path: path, reason: "byte \(b) has no token, so some text could not be encoded")
        }
        var tokens = ranked.map { ByteLevel.encode($0) }
        var merges: [(String, String)] = [], ranks: [Int32] = []
        for (rank, bytes) in ranked.enumerated() where bytes.count >= 2 {
            for cut in 1..<bytes.count {
                guard let l = idOfBytes[Array(bytes[..<cut])], let r = idOfBytes[Array(bytes[cut...])] else { continue }
                merges.append((tokens[l], tokens[r]))
                ranks.append(Int32(rank))
            }
        }
        var added: [(String, Int)] = []
        for (i, t) in qwen3AddedTokens.enumerated() {
            added.append((t, qwenSpecialStart + i))
            tokens.append(t)
        }
        let bpe: BPEModel
        do { bpe = try BPEModel(tokens: tokens, merges: merges, ranks: ranks) } catch { throw TokenizerError.malformed(path: path, reason: "\(error)") }
        var t = Tokenizer(bpe: bpe, preTokenizer: .qwen2, normalizer: .none, addedTokens: added,
                          specialIds: Set(qwenSpecialStart..<(qwenSpecialStart + qwen3SpecialCount)))
        t.eosId = qwenSpecialStart + 2   // <|im_end|>, as Qwen3's tokenizer_config.json
        t.padId = qwenSpecialStart       // <|endoftext|>
        return t
    }

    // MARK: helpers

    static func parseJSONFile(_ path: String) throws -> JSONValue {
        let f = try MappedFile(path: path)
        do { return try JSONParser.parse(f.bytes) } catch { throw TokenizerError.malformed(path: path, reason: "\(error)") }
    }

    static func tokenTable(_ pairs: [(String, Int?)], path: String) throws -> [String] {
        var maxId = -1
        for (t, id) in pairs {
            guard let id, id >= 0, id < 10_000_000 else { throw TokenizerError.malformed(path: path, reason: "token '\(t)' has a bad id") }
            maxId = max(maxId, id)
        }
        var tokens = [String?](repeating: nil, count: maxId + 1)
        for (t, id) in pairs {
            if let existing = tokens[id!], existing != t {
                throw TokenizerError.malformed(path: path, reason: "id \(id!) is given to both '\(existing)' and '\(t)'")
            }
            tokens[id!] = t
        }
        // Holes (unused ids) get a string that no text can produce.
        return tokens.enumerated().map { $0.element ?? "<unused_\($0.offset)>" }
    }

    static func parseMergeLines(_ text: String, path: String) throws -> [(String, String)] {
        var merges: [(String, String)] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if i == 0 && line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TokenizerError.malformed(path: path, reason: "line \(i + 1) '\(line)' is not two tokens") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    static func buildBPE(tokens: [String], merges: [(String, String)], path: String) throws -> BPEModel {
        do { return try BPEModel(tokens: tokens, merges: merges) } catch {
            throw TokenizerError.malformed(path: path, reason: "\(error)")
        }
    }

    static func normalizer(_ v: JSONValue?, path: String) throws -> Normalizer {
        guard let v, v != .null else { return .none }
        switch v["type"]?.string {
        case "NFC": return .nfc
        case "Sequence" where (v["normalizers"]?.array ?? []).isEmpty: return .none
        case let t: throw TokenizerError.unsupported(path: path, reason: "normalizer \(t ?? "?"); supported: none, NFC")
        }
    }

    static func preTokenizer(_ v: JSONValue?, path: String) throws -> PreTokenizer {
        func isByteLevel(_ x: JSONValue?, regex: Bool) -> Bool {
            x?["type"]?.string == "ByteLevel" && (x?["use_regex"]?.bool ?? true) == regex && x?["add_prefix_space"]?.bool != true
        }
        if isByteLevel(v, regex: true) { return .gpt2 }
        if v?["type"]?.string == "Sequence", let parts = v?["pretokenizers"]?.array, parts.count == 2 {
            if parts[0]["type"]?.string == "Digits", parts[0]["individual_digits"]?.bool == true, isByteLevel(parts[1], regex: true) {
                return .smollm
            }
            if parts[0]["type"]?.string == "Split", parts[0]["pattern"]?["Regex"]?.string == qwen2Pattern,
               parts[0]["behavior"]?.string == "Isolated", isByteLevel(parts[1], regex: false) {
                return .qwen2
            }
        }
        throw TokenizerError.unsupported(
            path: path, reason: "pre_tokenizer \(String(describing: v?["type"]?.string ?? "null")); supported: GPT-2 ByteLevel, SmolLM2 Digits+ByteLevel, Qwen2 Split+ByteLevel")
    }
}

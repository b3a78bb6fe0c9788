// The text ↔ ids pipeline, one stage per concern like Hugging Face `tokenizers`:
//   added/special tokens matched in raw text → normaliser (NFC or none) → pre-tokeniser split
//   → byte-level map → BPE → ids;  decode: ids → bytes (specials verbatim) → UTF-8.
// It knows nothing about models; loaders for the three file sources live in TokenizerLoading.swift.
import Foundation

public enum TokenizerError: Error, CustomStringConvertible {
    case malformed(path: String, reason: String)
    case unsupported(path: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let p, let r): return "\(p): not a usable tokenizer: \(r)"
        case .unsupported(let p, let r): return "\(p): unsupported tokenizer: \(r)"
        }
    }
}

public struct Tokenizer: Sendable {
    public enum Normalizer: String, Sendable { case none, nfc }

    public let bpe: BPEModel
    public let preTokenizer: PreTokenizer
    public let normalizer: Normalizer
    /// Tokens matched verbatim in text before BPE (chat markers, <|endoftext|>), longest first.
    public let addedTokens: [(content: String, id: Int)]
    /// Ids of added tokens marked special (skipped by `decode(skipSpecial:)`).
    public let specialIds: Set<Int>
    public var bosId: Int?
    public var eosId: Int?
    public var padId: Int?
    /// Whether encoding should prepend BOS (false for GPT-2, SmolLM2 and Qwen3).
    public var addBos: Bool = false
    /// tokenizer.json `ignore_merges`: a piece that is itself a token skips BPE (Llama-3 style).
    public var ignoreMerges: Bool = false

    public init(bpe: BPEModel, preTokenizer: PreTokenizer, normalizer: Normalizer = .none,
                addedTokens: [(String, Int)] = [], specialIds: Set<Int> = []) {
        self.bpe = bpe
        self.preTokenizer = preTokenizer
        self.normalizer = normalizer
        self.addedTokens = addedTokens.sorted { $0.0.utf8.count > $1.0.utf8.count }.map { (content: $0.0, id: $0.1) }
        self.specialIds = specialIds
        addedById = Dictionary(addedTokens.map { ($0.1, $0.0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Added (verbatim-matched) tokens by id.
    public let addedById: [Int: String]

    public var vocabularySize: Int { max(bpe.tokens.count, (addedById.keys.max() ?? -1) + 1) }

    /// The string of a token id (byte-level alphabet for BPE tokens, verbatim for added tokens).
    public func token(_ id: Int) -> String? {
        if let a = addedById[id] { return a }
        return id >= 0 && id < bpe.tokens.count ? bpe.tokens[id] : nil
    }

    public func id(of token: String) -> Int? {
        addedTokens.first { $0.content == token }?.id ?? bpe.vocab[token]
    }

    /// Encodes text; added tokens written in the text become their ids.
    public func encode(_ text: String, addBos: Bool? = nil) -> [Int] {
        var ids: [Int] = []
        if addBos ?? self.addBos, let b = bosId { ids.append(b) }
        for segment in splitAdded(text) {
            switch segment {
            case .added(let id): ids.append(id)
            case .text(let t): ids += encodeOrdinary(t)
            }
        }
        return ids
    }

    /// Encodes text with no added-token matching (what BPE alone gives).
    public func encodeOrdinary(_ text: String) -> [Int] {
        let normalized = normalizer == .nfc ? text.precomposedStringWithCanonicalMapping : text
        var ids: [Int] = []
        for piece in preTokenizer.split(normalized) {
            var bytes: [UInt8] = []
            for u in piece { bytes.append(contentsOf: UTF8.encode(u)!) }
            if ignoreMerges, let id = bpe.vocab[ByteLevel.encode(bytes)] { ids.append(id); continue }
            ids += bpe.encode(bytes: bytes)
        }
        return ids
    }

    /// The raw bytes of ids (specials included unless `skipSpecial`).
    public func decodeBytes(_ ids: [Int], skipSpecial: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            if skipSpecial && specialIds.contains(id) { continue }
            if let a = addedById[id] { out += Array(a.utf8); continue }
            guard id >= 0, id < bpe.tokens.count else { continue }
            out += ByteLevel.decode(bpe.tokens[id]) ?? Array(bpe.tokens[id].utf8)
        }
        return out
    }

    /// Decoded text; invalid UTF-8 (a split character) becomes U+FFFD, as HF does.
    public func decode(_ ids: [Int], skipSpecial: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecial: skipSpecial), as: UTF8.self)
    }

    enum Segment { case text(String), added(Int) }

    /// Splits text around occurrences of added tokens (longest match first at each position).
    func splitAdded(_ text: String) -> [Segment] {
        guard !addedTokens.isEmpty else { return [.text(text)] }
        let bytes = Array(text.utf8)
        var segments: [Segment] = []
        var start = 0, i = 0
        let firstBytes = Set(addedTokens.compactMap { $0.content.utf8.first })
        while i < bytes.count {
            if firstBytes.contains(bytes[i]), let hit = addedTokens.first(where: { bytes.hasPrefix($0.content.utf8, at: i) }) {
                if start < i { segments.append(.text(String(decoding: bytes[start..<i], as: UTF8.self))) }
                segments.append(.added(hit.id))
                i += hit.content.utf8.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count { segments.append(.text(String(decoding: bytes[start...], as: UTF8.self))) }
        return segments
    }
}

extension Array where Element == UInt8 {
    func hasPrefix(_ p: String.UTF8View, at i: Int) -> Bool {
        var k = i
        for b in p {
            guard k < count, self[k] == b else { return false }
            k += 1
        }
        return !p.isEmpty
    }
}

/// Turns a stream of ids into text without ever splitting a UTF-8 character: bytes of an
/// incomplete character are held until the rest arrives.
public struct StreamingDecoder: Sendable {
    let tokenizer: Tokenizer
    var pending: [UInt8] = []
    public let skipSpecial: Bool

    public init(tokenizer: Tokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// Text completed by this id (possibly empty).
    public mutating func push(_ id: Int) -> String {
        pending += tokenizer.decodeBytes([id], skipSpecial: skipSpecial)
        let cut = Self.completePrefix(pending)
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is left (an incomplete character becomes U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a multi-byte character.
    static func completePrefix(_ b: [UInt8]) -> Int {
        var i = b.count - 1
        var back = 0
        // Walk back over at most three continuation bytes to the lead byte of the last character.
        while i >= 0, back < 4, b[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
        guard i >= 0 else { return b.count }
        let lead = b[i]
        let need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return b.count - i < need ? i : b.count
    }
}

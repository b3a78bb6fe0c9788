// Multi-letter tokens of a tokenizer's vocabulary: the words a model sees as single units and so
// cannot spell by looking. Each vocabulary entry is decoded to text, a leading word-boundary marker
// (a space, i.e. 'Ġ' in byte-level BPE, or '▁' in SentencePiece-style vocabularies) is stripped,
// and entries made only of letters within the length bounds are kept, case-folded and merged,
// remembering every source id ("Ġthe", "the", "The" → "the" with three ids).
import Tokenization

public struct VocabularyToken: Sendable, Equatable {
    public let text: String          // case-folded letters
    public let sourceIds: [Int]      // ascending
}

public struct ExtractionReport: Sendable, Equatable {
    /// (step, entries remaining) in order, for printing and the manifest.
    public var steps: [(String, Int)] = []
    public static func == (a: Self, b: Self) -> Bool { a.steps.map(\.0) == b.steps.map(\.0) && a.steps.map(\.1) == b.steps.map(\.1) }
}

public enum VocabularyExtraction {
    public static func extract(_ tokenizer: Tokenizer, minLength: Int, maxLength: Int, englishOnly: Bool)
        -> (tokens: [VocabularyToken], report: ExtractionReport)
    {
        var report = ExtractionReport()
        let all = tokenizer.bpe.tokens
        report.steps.append(("vocabulary entries", all.count))
        var texts: [(String, Int)] = []
        for (id, _) in all.enumerated() where !tokenizer.specialIds.contains(id) && tokenizer.addedById[id] == nil {
            guard let bytes = ByteLevel.decode(all[id]), let text = String(validating: bytes, as: UTF8.self) else { continue }
            texts.append((text, id))
        }
        report.steps.append(("ordinary tokens that decode to UTF-8", texts.count))
        var stripped: [(String, Int)] = []
        for (t, id) in texts {
            var s = Substring(t)
            if s.first == " " || s.first == "\u{2581}" { s = s.dropFirst() }
            if !s.isEmpty, s.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic && $0.properties.generalCategory.isLetter }) {
                stripped.append((String(s), id))
            }
        }
        report.steps.append(("letters only (after stripping the boundary marker)", stripped.count))
        if englishOnly {
            stripped = stripped.filter { $0.0.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) } }
            report.steps.append(("ASCII a–z only (english_only)", stripped.count))
        }
        stripped = stripped.filter { (minLength...maxLength).contains($0.0.count) }
        report.steps.append(("length \(minLength)–\(maxLength)", stripped.count))
        var merged: [String: [Int]] = [:]
        for (t, id) in stripped { merged[t.lowercased(), default: []].append(id) }
        report.steps.append(("unique after case-folding", merged.count))
        let tokens = merged.sorted { $0.key < $1.key }.map { VocabularyToken(text: $0.key, sourceIds: $0.value.sorted()) }
        return (tokens, report)
    }
}

extension Unicode.GeneralCategory {
    var isLetter: Bool {
        switch self {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
}

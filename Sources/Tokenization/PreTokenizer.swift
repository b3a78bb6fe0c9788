// Pre-tokenisation: the regex split that runs before BPE, so merges never cross word, number
// or punctuation boundaries. The patterns are implemented as hand-written scanners over Unicode
// scalars (no regex engine), each mirroring its regex alternative by alternative:
//
// GPT-2 (ByteLevel use_regex):  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Qwen2/Qwen3 (Split, Isolated): (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//                                | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// SmolLM2 (Sequence[Digits(individual_digits), ByteLevel]): every \p{N} alone, then GPT-2 on the rest.

public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2
    case qwen2
    case smollm

    /// Splits text into pieces (as scalar arrays) that BPE encodes independently.
    public func split(_ text: String) -> [ArraySlice<Unicode.Scalar>] {
        let s = Array(text.unicodeScalars)
        var ranges: [Range<Int>] = []
        switch self {
        case .gpt2: Scanner.gpt2(s, 0..<s.count, into: &ranges)
        case .qwen2: Scanner.qwen2(s, into: &ranges)
        case .smollm:
            var start = 0
            for i in 0..<s.count where s[i].isNumber {
                if start < i { Scanner.gpt2(s, start..<i, into: &ranges) }
                ranges.append(i..<(i + 1))
                start = i + 1
            }
            if start < s.count { Scanner.gpt2(s, start..<s.count, into: &ranges) }
        }
        return ranges.map { s[$0] }
    }
}

extension Unicode.Scalar {
    var isLetter: Bool {
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
    var isNumber: Bool {
        switch properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
    /// Regex \s (Unicode White_Space).
    var isSpace: Bool { properties.isWhitespace }
    var isNewline: Bool { self == "\r" || self == "\n" }
    /// [^\s\p{L}\p{N}]
    var isOther: Bool { !isSpace && !isLetter && !isNumber }
}

enum Scanner {
    /// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
    static func contraction(_ s: [Unicode.Scalar], _ i: Int, end: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == "'", i + 1 < end else { return 0 }
        func at(_ k: Int) -> Unicode.Scalar? {
            guard k < end else { return nil }
            let c = s[k]
            if caseInsensitive, c.value >= 65, c.value <= 90 { return Unicode.Scalar(c.value + 32) }
            return c
        }
        switch at(i + 1) {
        case "s", "t", "m", "d": return 2
        case "r": return at(i + 2) == "e" ? 3 : 0
        case "v": return at(i + 2) == "e" ? 3 : 0
        case "l": return at(i + 2) == "l" ? 3 : 0
        default: return 0
        }
    }

    /// \s+(?!\S) then \s+ at a whitespace run starting at i: the whole run at the end of the
    /// text, otherwise all but its last scalar (which may prefix the next piece), at least one.
    static func whitespace(_ s: [Unicode.Scalar], _ i: Int, end: Int) -> Int {
        var k = i
        while k < end, s[k].isSpace { k += 1 }
        if k == end { return k - i }
        return max(1, k - i - 1)
    }

    static func gpt2(_ s: [Unicode.Scalar], _ range: Range<Int>, into out: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            var n = contraction(s, i, end: end, caseInsensitive: false)
            if n == 0 {
                let j = (s[i] == " " && i + 1 < end) ? i + 1 : i
                let c = s[j]
                if !c.isSpace {
                    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one class, greedily.
                    var k = j + 1
                    if c.isLetter { while k < end, s[k].isLetter { k += 1 } }
                    else if c.isNumber { while k < end, s[k].isNumber { k += 1 } }
                    else { while k < end, s[k].isOther { k += 1 } }
                    n = k - i
                } else {
                    n = whitespace(s, i, end: end)
                }
            }
            out.append(i..<(i + n))
            i += n
        }
    }

    static func qwen2(_ s: [Unicode.Scalar], into out: inout [Range<Int>]) {
        var i = 0
        let end = s.count
        while i < end {
            let c = s[i]
            var n = contraction(s, i, end: end, caseInsensitive: true)
            if n == 0 {
                if c.isLetter || (!c.isNewline && !c.isLetter && !c.isNumber && i + 1 < end && s[i + 1].isLetter) {
                    // [^\r\n\p{L}\p{N}]?\p{L}+
                    var k = c.isLetter ? i + 1 : i + 2
                    while k < end, s[k].isLetter { k += 1 }
                    n = k - i
                } else if c.isNumber {
                    n = 1  // \p{N}: digits one at a time
                } else if let k = punctuation(s, i, end: end) {
                    n = k - i  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
                } else {
                    // \s*[\r\n]+ : through the last newline of the whitespace run, if it has one.
                    var k = i
                    var lastNewline = -1
                    while k < end, s[k].isSpace { if s[k].isNewline { lastNewline = k }; k += 1 }
                    n = lastNewline >= 0 ? lastNewline + 1 - i : whitespace(s, i, end: end)
                }
            }
            out.append(i..<(i + n))
            i += n
        }
    }

    /// End of ` ?[^\s\p{L}\p{N}]+[\r\n]*` at i, or nil.
    static func punctuation(_ s: [Unicode.Scalar], _ i: Int, end: Int) -> Int? {
        let j = s[i] == " " ? i + 1 : i
        guard j < end, s[j].isOther else { return nil }
        var k = j
        while k < end, s[k].isOther { k += 1 }
        while k < end, s[k].isNewline { k += 1 }
        return k
    }
}

// Turning a model's free-form output into an answer, auditable and conservative. Only the text
// after the last `</think>` counts. Each answer type has one reader (rules in docs/metrics.md):
//   number   the count a sentence states ("3 r's", "three times"); else the last number written
//   letter   a quoted single letter, "… is X", "X is the …", or a bare letter
//   yes_no   a leading yes/no, else the only polarity the answer uses
//   word     a quoted word, "… is WORD" at the end, or a one-word answer
//   letters  the longest run of single letters separated by dashes, spaces, commas, dots or newlines
//   text     the whole answer (after an "Answer:" label), normalised
// Anything else is unparseable, counted as wrong and reported separately.
import Foundation
import Records

public enum AnswerExtraction {
    static let numberWords: [String: Int] = [
        "zero": 0, "none": 0, "no": 0, "one": 1, "once": 1, "two": 2, "twice": 2, "three": 3, "thrice": 3, "four": 4, "five": 5,
        "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
        "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    ]
    /// Words that, right after a number, say the number is the count asked for ("3 times").
    static let countNouns: Set<String> = ["times", "time", "occurrences", "occurrence", "instances", "instance", "letters", "letter", "copies"]

    /// The text after the last `</think>` (Qwen3 reasoning), trimmed.
    public static func answerPart(_ output: String) -> String {
        let tail = output.range(of: "</think>", options: .backwards).map { String(output[$0.upperBound...]) } ?? output
        return tail.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The answer of the given type, normalised for comparison (nil = unparseable).
    public static func read(_ type: AnswerType, _ output: String) -> String? {
        switch type {
        case .number: return count(output).map(String.init)
        case .letter: return letter(output).map(String.init)
        case .yesNo: return yesNo(output).map { $0 ? "yes" : "no" }
        case .word: return word(output)
        case .letters: return spelling(output)
        case .text: return text(output)
        }
    }

    /// The gold answer in the form `read` returns: "t h e", "t-h-e" and "the" are all "the" for
    /// letters; case and surrounding space never matter.
    public static func normalizedGold(_ type: AnswerType, _ gold: String) -> String {
        let g = gold.trimmingCharacters(in: .whitespacesAndNewlines)
        switch type {
        case .number: return Int(g).map(String.init) ?? g
        case .letter, .word: return g.lowercased()
        case .yesNo: return ["yes", "true"].contains(g.lowercased()) ? "yes" : ["no", "false"].contains(g.lowercased()) ? "no" : g.lowercased()
        case .letters: return g.filter(\.isLetter).lowercased()
        case .text: return normalizeText(g)
        }
    }

    /// Words and numbers of a text in order, lower-cased, each with the characters between it and
    /// the token before (so "3 r's" and the list item "3. r" can be told apart).
    static func tokens(_ text: String) -> [(text: String, gap: String)] {
        var out: [(text: String, gap: String)] = [], cur = "", gap = "", digits = false
        for ch in text.lowercased() {
            let isDigit = ch.isASCII && ch.isNumber
            if isDigit || ch.isLetter {
                if !cur.isEmpty && isDigit != digits { out.append((cur, gap)); cur = ""; gap = "" }
                cur.append(ch); digits = isDigit
            } else {
                if !cur.isEmpty { out.append((cur, gap)); cur = ""; gap = "" }
                gap.append(ch)
            }
        }
        if !cur.isEmpty { out.append((cur, gap)) }
        return out
    }

    /// Text with every parenthesised or bracketed aside removed ("3 (at positions 3, 8, 9)" → "3 ").
    static func withoutAsides(_ text: String) -> String {
        var out = "", depth = 0
        for ch in text {
            if ch == "(" || ch == "[" { depth += 1; continue }
            if (ch == ")" || ch == "]") && depth > 0 { depth -= 1; out.append(" "); continue }
            if depth == 0 { out.append(ch) }
        }
        return out
    }

    /// The count an answer states. A number followed by what it counts — a single letter ("3 r's",
    /// "2 'e'") or a counting noun ("twice", "3 times") — is the answer, the last such one winning;
    /// otherwise the last number. Asides in parentheses (listed positions) are not candidates.
    public static func count(_ output: String) -> Int? {
        let t = tokens(withoutAsides(answerPart(output)))
        func value(_ s: String) -> Int? {
            if let d = s.first, d.isASCII, d.isNumber { return s.count <= 6 ? Int(s) : nil }
            return numberWords[s]
        }
        var last: Int? = nil, stated: Int? = nil
        for (i, tok) in t.enumerated() {
            guard let v = value(tok.text) else { continue }
            // Only spaces and quotes between: "3 r's", "2 'e'", "3 times" — not the list item "3. r".
            var countsSomething = ["once", "twice", "thrice"].contains(tok.text)
            if i + 1 < t.count {
                let next = t[i + 1]
                let joined = !next.gap.isEmpty && next.gap.allSatisfy { $0 == " " || "'\"`‘’“”*".contains($0) }
                countsSomething = countsSomething || joined && (next.text.count == 1 && next.text.first?.isLetter == true || countNouns.contains(next.text))
            }
            if countsSomething { stated = v }
            // "No" is a count only when it counts something ("no r's"); "No idea." is not zero.
            if tok.text != "no" || countsSomething { last = v }
        }
        return stated ?? last
    }

    public static func letter(_ output: String) -> Character? {
        let text = answerPart(output)
        let chars = Array(text)
        // 1. The last quoted single letter: 'r', "r", `r`, *r*.
        var quoted: Character? = nil
        for i in chars.indices where i + 2 < chars.count {
            if "'\"`*‘“".contains(chars[i]), chars[i + 1].isLetter, "'\"`*’”".contains(chars[i + 2]) { quoted = chars[i + 1] }
        }
        if let q = quoted { return Character(q.lowercased()) }
        let words = text.split(whereSeparator: { !$0.isLetter }).map(String.init)
        // 2. "… is r" / "… is: r" / "letter r" (an article "a" only when it ends the answer).
        for (i, w) in words.enumerated().reversed() where w.count == 1 && i > 0 {
            let prev = words[i - 1].lowercased()
            if ["is", "letter", "be", "answer"].contains(prev), w != "a" || prev != "is" || i == words.count - 1 { return Character(w.lowercased()) }
        }
        // 3. "A is the 3rd letter": a letter that is the subject of "is the".
        for i in words.indices.reversed() where words[i].count == 1 && i + 2 < words.count {
            if words[i + 1].lowercased() == "is" && words[i + 2].lowercased() == "the" { return Character(words[i].lowercased()) }
        }
        // 4. The whole answer is one letter (possibly with punctuation).
        let letters = text.filter(\.isLetter)
        if letters.count == 1 { return Character(letters.lowercased()) }
        return nil
    }

    static let yesWords: Set<String> = ["yes", "true", "correct", "yeah", "yep"]
    static let noWords: Set<String> = ["no", "false", "incorrect", "nope"]

    /// Yes (true) or no (false): the answer's first word when it is one; else the one polarity the
    /// answer uses ("The answer is yes."); an answer using both, or neither, is unparseable.
    public static func yesNo(_ output: String) -> Bool? {
        let t = tokens(answerPart(output)).map(\.text).filter { $0 != "answer" }
        guard let first = t.first else { return nil }
        if yesWords.contains(first) { return true }
        if noWords.contains(first) { return false }
        let y = t.contains { yesWords.contains($0) }, n = t.contains { noWords.contains($0) }
        return y != n ? y : nil
    }

    /// One word: the last quoted word, else the last word after "is"/"answer" when it ends the
    /// answer, else the answer when it is a single word.
    public static func word(_ output: String) -> String? {
        let text = answerPart(output)
        var quoted: String? = nil
        for q in ["'", "\"", "`", "*", "‘", "“"] {
            let close = q == "‘" ? "’" : q == "“" ? "”" : q
            var rest = text[...]
            while let a = rest.range(of: q) {
                guard let b = rest.range(of: close, range: a.upperBound..<rest.endIndex) else { break }
                let inner = rest[a.upperBound..<b.lowerBound].trimmingCharacters(in: .whitespaces)
                if !inner.isEmpty, inner.allSatisfy(\.isLetter) { quoted = inner.lowercased() }
                rest = rest[b.upperBound...]
            }
        }
        if let quoted { return quoted }
        let words = text.split(whereSeparator: { !$0.isLetter && $0 != "'" && $0 != "-" })
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'-")) }.filter { !$0.isEmpty }
        if words.count == 1 { return words[0].lowercased() }
        if words.count >= 2, ["is", "answer", "word"].contains(words[words.count - 2].lowercased()) { return words[words.count - 1].lowercased() }
        return nil
    }

    /// The longest run of single letters separated by non-letters, lower-cased ("s-t-r-a-w" → "straw").
    public static func spelling(_ output: String) -> String? {
        let text = answerPart(output)
        // Split into tokens on anything that is not a letter; runs of one-letter tokens are spellings.
        var best: [Character] = [], run: [Character] = []
        var token = ""
        func endToken() {
            if token.count == 1 { run.append(Character(token.lowercased())) }
            else if !token.isEmpty { if run.count > best.count { best = run }; run = [] }
            token = ""
        }
        let chars = Array(text)
        for (i, ch) in chars.enumerated() {
            // An apostrophe inside a word ("it's") keeps the word whole rather than leaving a stray "s".
            let inWord = (ch == "'" || ch == "’") && i > 0 && i + 1 < chars.count && chars[i - 1].isLetter && chars[i + 1].isLetter
            if ch.isLetter || inWord { token.append(ch) } else { endToken() }
        }
        endToken()
        if run.count > best.count { best = run }
        return best.count >= 2 ? String(best) : nil
    }

    /// Free text: what follows a final "Answer:" label (else the whole answer), normalised; nil when empty.
    public static func text(_ output: String) -> String? {
        var t = answerPart(output)
        if let r = t.range(of: "answer:", options: [.caseInsensitive, .backwards]) { t = String(t[r.upperBound...]) }
        let n = normalizeText(t)
        return n.isEmpty ? nil : n
    }

    /// SQuAD-style normalisation: lower case, punctuation removed, the articles a/an/the dropped,
    /// runs of white space made one space.
    public static func normalizeText(_ s: String) -> String {
        let lowered = s.lowercased().map { $0.isPunctuation || $0.isSymbol ? " " : $0 }
        return String(lowered).split(whereSeparator: \.isWhitespace).filter { !["a", "an", "the"].contains($0) }.joined(separator: " ")
    }
}

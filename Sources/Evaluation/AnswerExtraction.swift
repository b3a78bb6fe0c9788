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
    /// ("letters" is not one: "11 letters" is the word's length.)
    static let countNouns: Set<String> = ["times", "time", "occurrences", "occurrence", "instances", "instance", "copies"]

    /// The text after the last `</think>` (Qwen3 reasoning), trimmed.
    public static func answerPart(_ output: String) -> String {
        let tail = output.range(of: "</think>", options: .backwards).map { String(output[$0.upperBound...]) } ?? output
        return tail.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The answer of the given type, normalised for comparison (nil = unparseable). The question's
    /// facts, when known, say what was asked: a count of another letter, or a letter named for another
    /// position, is not its answer.
    public static func read(_ type: AnswerType, _ output: String, facts: QuestionFacts? = nil) -> String? {
        switch type {
        case .number: return count(output, letter: facts?.letter.flatMap { $0.count == 1 ? $0.first : nil }).map(String.init)
        case .letter:
            let asked = facts?.ordinal == "last" ? -1 : facts?.position
            return Self.letter(output, position: asked).map(String.init)
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

    /// The count an answer states about `letter` (the letter asked about, when known). In order of
    /// preference, the last of:
    ///   1. a count of the asked letter: "3 r's", "2 'e'", a tally "r: 3" / "r - 3" / "r = 3" / "r is 3";
    ///   2. a count of nothing named: "3 times", "twice", "3 occurrences" — unless its sentence names
    ///      another letter ("the letter 'a' is repeated three times" does not answer a question about y);
    ///   3. any other number.
    /// Never candidates: asides in parentheses (listed positions), numbers after "position(s)" or
    /// "index", counts and tallies of another letter, and "no" that counts nothing ("No idea." is not 0).
    /// A list numbered "3. r" is numbering, not a count: a numbered spelling ("1. a\n2. b\n3. u\n4. s")
    /// with nothing else is unparseable, not the count 4.
    public static func count(_ output: String, letter: Character? = nil) -> Int? {
        let asked = letter.map { Character($0.lowercased()) }
        var best: [Int?] = [nil, nil, nil]   // by preference class
        let text = withoutAsides(answerPart(output)).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !isNumberedLetter($0) }.joined(separator: "\n")
        for sentence in sentences(text) {
            let t = tokens(sentence)
            func value(_ s: String) -> Int? {
                if let d = s.first, d.isASCII, d.isNumber { return s.count <= 6 ? Int(s) : nil }
                return numberWords[s]
            }
            func isLetter(_ s: String) -> Bool { s.count == 1 && s.first?.isLetter == true }
            // A gap of spaces and quotes only ("3 r's", "2 'e'"), not "3. r" or "3, r".
            func tight(_ gap: String) -> Bool { !gap.isEmpty && gap.allSatisfy { $0 == " " || "'\"`‘’“”*".contains($0) } }
            // A tally separator: "r: 3", "r - 3", "r = 3" (spaces and quotes allowed around it).
            func tallyGap(_ gap: String) -> Bool {
                let core = gap.filter { $0 != " " && !"'\"`‘’“”*".contains($0) }
                return core == ":" || core == "-" || core == "=" || core == "–"
            }
            // Letters the sentence names ("the letter 'a'", "'a'"), for counts that name no letter.
            var named = Set<Character>()
            for (i, tok) in t.enumerated() where isLetter(tok.text) {
                let quoted = tok.gap.last.map { "'\"`‘“*".contains($0) } ?? false
                if quoted || (i > 0 && t[i - 1].text == "letter") { named.insert(Character(tok.text)) }
            }
            let otherLetterNamed = asked.map { a in named.contains { $0 != a } && !named.contains(a) } ?? false
            var inPositions = false
            for (i, tok) in t.enumerated() {
                if ["position", "positions", "index", "indices", "indexes"].contains(tok.text) { inPositions = true; continue }
                guard let v = value(tok.text) else {
                    if tok.text != "and" && tok.text != "at" { inPositions = false }
                    continue
                }
                if inPositions { continue }
                let next = i + 1 < t.count ? t[i + 1] : nil
                let prev = i > 0 ? t[i - 1] : nil
                let prev2 = i > 1 ? t[i - 2] : nil
                // "N r's" / "N 'e'": a count of a named letter.
                if let next, tight(next.gap), isLetter(next.text) {
                    let l = Character(next.text)
                    if asked == nil || asked == l { best[0] = v } else { continue }
                    continue
                }
                // "r: 3", "r - 3", "r = 3", "r is 3": a tally of a letter.
                if let prev, isLetter(prev.text), tallyGap(tok.gap) {
                    if asked == nil || asked == Character(prev.text) { best[0] = v }
                    continue
                }
                // ("a is 3" only at the start of a sentence, where "a" is not an article.)
                if let prev, prev.text == "is", let prev2, isLetter(prev2.text), prev2.text != "a" || asked == "a" || i == 2 {
                    if asked == nil || asked == Character(prev2.text) { best[0] = v }
                    continue
                }
                // "3 times", "twice": a count that names no letter.
                let noun = ["once", "twice", "thrice"].contains(tok.text) || (next.map { tight($0.gap) && countNouns.contains($0.text) } ?? false)
                if noun {
                    if !otherLetterNamed { best[1] = v }
                    continue
                }
                if tok.text != "no" { best[2] = v }
            }
        }
        return best[0] ?? best[1] ?? best[2]
    }

    /// A line that numbers one letter of a spelling ("3. r", "3) R", "3.r"): list numbering, no count.
    static func isNumberedLetter(_ line: Substring) -> Bool {
        let t = tokens(String(line))
        guard t.count == 2, let d = t[0].text.first, d.isASCII, d.isNumber, t[1].text.count == 1, t[1].text.first?.isLetter == true else { return false }
        return t[1].gap.contains(".") || t[1].gap.contains(")")
    }

    /// Sentences of a text: split at ". ", "! ", "? ", ";" and line breaks (a decimal point stays).
    static func sentences(_ text: String) -> [String] {
        var out: [String] = [], cur = ""
        let chars = Array(text)
        for (i, ch) in chars.enumerated() {
            let next = i + 1 < chars.count ? chars[i + 1] : " "
            if ch == "\n" || ch == ";" || ("!?".contains(ch)) || (ch == "." && (next == " " || next == "\n")) {
                if !cur.isEmpty { out.append(cur) }
                cur = ""
            } else { cur.append(ch) }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    static let ordinalWords: [String: Int] = [
        "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
        "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "last": -1,
    ]

    /// "4th" → 4, "first" → 1, "last" → −1; nil for anything else.
    static func ordinalValue(_ w: String) -> Int? {
        let w = w.lowercased()
        if let v = ordinalWords[w] { return v }
        let digits = w.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 3, ["st", "nd", "rd", "th"].contains(String(w.dropFirst(digits.count))) else { return nil }
        return Int(digits)
    }

    /// The letter an answer names. `position` is the asked position (−1 for "last"), when known: a
    /// sentence naming the letter at another position ("A is the first letter", asked the 4th) does
    /// not answer it.
    public static func letter(_ output: String, position: Int? = nil) -> Character? {
        let text = answerPart(output)
        let chars = Array(text)
        // 0. After a spelled-out word, an answer on its own final paragraph ("a\ns\nl\n\nA").
        let paragraphs = text.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        if paragraphs.count >= 2, let last = paragraphs.last, last.filter(\.isLetter).count == 1,
           last.allSatisfy({ $0.isLetter || $0.isPunctuation || $0 == " " }), spelling(paragraphs[paragraphs.count - 2]) != nil {
            return last.first(where: \.isLetter).map { Character($0.lowercased()) }
        }
        // 1. The last quoted single letter: 'r', "r", `r`, *r* — unless it is denied ("'t' is not …", "not 't'").
        var quoted: Character? = nil
        for i in chars.indices where i + 2 < chars.count {
            guard "'\"`*‘“".contains(chars[i]), chars[i + 1].isLetter, "'\"`*’”".contains(chars[i + 2]) else { continue }
            let after = String(chars[(i + 3)...].prefix(12)).lowercased().trimmingCharacters(in: .whitespaces)
            let before = String(chars[..<i].suffix(5)).lowercased().trimmingCharacters(in: .whitespaces)
            if after.hasPrefix("is not") || after.hasPrefix("isn't") || after.hasPrefix("is no ") || before.hasSuffix("not") { continue }
            quoted = chars[i + 1]
        }
        if let q = quoted { return Character(q.lowercased()) }
        let words = text.split(whereSeparator: { !$0.isLetter }).map(String.init)
        // 2. "… is r" / "… is: r" / "letter r" (an article "a" only when it ends the answer).
        for (i, w) in words.enumerated().reversed() where w.count == 1 && i > 0 {
            let prev = words[i - 1].lowercased()
            // "the letter t is not in the word" denies t rather than answering it.
            if i + 2 < words.count, words[i + 1].lowercased() == "is", ["not", "isn", "never"].contains(words[i + 2].lowercased()) { continue }
            if ["is", "letter", "be", "answer"].contains(prev), w != "a" || prev != "is" || i == words.count - 1 { return Character(w.lowercased()) }
        }
        // 3. "A is the 3rd letter": a letter that is the subject of "is the" (at the asked position, if it says one).
        let alnum = text.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
        for i in alnum.indices.reversed() where alnum[i].count == 1 && alnum[i].first?.isLetter == true && i + 2 < alnum.count {
            guard alnum[i + 1].lowercased() == "is" && alnum[i + 2].lowercased() == "the" else { continue }
            if let position, i + 3 < alnum.count, let said = ordinalValue(alnum[i + 3]), said != position { continue }
            return Character(alnum[i].lowercased())
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

    /// One word: the last quoted word; else a one-word answer, or a one-word first line followed by
    /// an explanation; else the last word after "is"/"answer"/"word" when it ends the answer. Asides in
    /// parentheses are skipped, and a word spelled with dashes ("a-p-p-l-e") is the word.
    public static func word(_ output: String) -> String? {
        let text = withoutAsides(answerPart(output))
        func normalized(_ w: String) -> String {
            let parts = w.lowercased().split(separator: "-")
            return parts.count >= 2 && parts.allSatisfy({ $0.count == 1 }) ? parts.joined() : w.lowercased()
        }
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
        func words(_ t: String) -> [String] {
            t.split(whereSeparator: { !$0.isLetter && $0 != "'" && $0 != "-" })
                .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'-")) }.filter { !$0.isEmpty }
        }
        let all = words(text)
        if all.count == 1 { return normalized(all[0]) }
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        if lines.count >= 2, let first = lines.first, words(first).count == 1 { return normalized(words(first)[0]) }
        if all.count >= 2, ["is", "answer", "word"].contains(all[all.count - 2].lowercased()) { return normalized(all[all.count - 1]) }
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

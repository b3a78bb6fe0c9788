// Turning a model's free-form output into an answer, auditable and conservative: only the text
// after the last `</think>` counts; a count is the last number written (digits or words); a
// letter is a quoted single letter, or "… is X", or a bare letter; a spelling is the longest run
// of single letters separated by dashes, spaces, commas, dots or newlines (numbering ignored).
// Anything else is unparseable, counted as wrong and reported separately.

public enum AnswerExtraction {
    static let numberWords: [String: Int] = [
        "zero": 0, "none": 0, "no": 0, "one": 1, "once": 1, "two": 2, "twice": 2, "three": 3, "thrice": 3, "four": 4, "five": 5,
        "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
        "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    ]

    /// The text after the last `</think>` (Qwen3 reasoning), trimmed.
    public static func answerPart(_ output: String) -> String {
        let tail = output.range(of: "</think>", options: .backwards).map { String(output[$0.upperBound...]) } ?? output
        return tail.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func count(_ output: String) -> Int? {
        let text = answerPart(output).lowercased()
        var last: Int? = nil
        var word = "", digits = ""
        func flush() {
            if !digits.isEmpty, let v = Int(digits.prefix(6)) { last = v }
            else if let v = numberWords[word] { last = v }
            word = ""; digits = ""
        }
        for ch in text {
            if ch.isASCII && ch.isNumber { if !word.isEmpty { flush() }; digits.append(ch) }
            else if ch.isLetter { if !digits.isEmpty { flush() }; word.append(ch) }
            else { flush() }
        }
        flush()
        return last
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
        // 2. "… is r" / "… is: r" / "letter r" at the end of a sentence.
        let words = text.split(whereSeparator: { !$0.isLetter }).map(String.init)
        for (i, w) in words.enumerated().reversed() where w.count == 1 && i > 0 {
            let prev = words[i - 1].lowercased()
            if ["is", "letter", "be", "answer"].contains(prev), w != "a" || prev != "is" || i == words.count - 1 { return Character(w.lowercased()) }
        }
        // 3. The whole answer is one letter (possibly with punctuation).
        let letters = text.filter(\.isLetter)
        if letters.count == 1 { return Character(letters.lowercased()) }
        return nil
    }

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
}

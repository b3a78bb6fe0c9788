// Letter-level facts about a word — the gold answers of every question are computed here, from
// the word itself, and nowhere else.
import Foundation

public enum Letters {
    /// English ordinal: 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st, 22nd, 23rd, 101st, 111th.
    public static func ordinal(_ n: Int) -> String {
        let lastTwo = n % 100, last = n % 10
        let suffix = (11...13).contains(lastTwo) ? "th" : last == 1 ? "st" : last == 2 ? "nd" : last == 3 ? "rd" : "th"
        return "\(n)\(suffix)"
    }

    /// How many times `letter` occurs in `word`.
    public static func count(_ letter: Character, in word: String) -> Int { word.filter { $0 == letter }.count }

    /// Number of distinct letters that occur more than once ("strawberry" → 1: r; "committee" → 3: m, t, e).
    public static func repeatedLetters(_ word: String) -> Int {
        var seen: [Character: Int] = [:]
        for c in word { seen[c, default: 0] += 1 }
        return seen.values.filter { $0 > 1 }.count
    }

    /// The letters a–z that do not occur in `word`.
    public static func absentLetters(_ word: String) -> [Character] {
        let present = Set(word)
        return "abcdefghijklmnopqrstuvwxyz".filter { !present.contains($0) }
    }

    public static func isLowerASCIIWord(_ s: String) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= 97 && $0 <= 122 } }

    /// Text a person typed, as a lower-case a–z word, or nil: normalised first (NFKC, so a fullwidth
    /// 'ａ' or U+212A KELVIN SIGN reads as the letter it stands for), then checked to be ASCII letters
    /// only, then lower-cased. Checking after lower-casing would judge a different string than the
    /// one normalisation gives: the check and the answer must see the same word.
    public static func normalizedWord(_ s: String) -> String? {
        let n = s.precomposedStringWithCompatibilityMapping
        guard !n.isEmpty, n.utf8.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) }) else { return nil }
        return n.lowercased()
    }
}

// `--limit N`: a seeded random sample of N words, not the first N of a file (dataset files are in
// alphabetical order, so a prefix is all "a…" words). The frame of distinct words is sorted by
// word length, then first letter, then a seeded hash, cut into N equal zones, and one word is
// drawn at random from each zone: stratified sampling with one unit per zone, which allocates the
// sample to word lengths and first letters in proportion to their sizes. (A single random start
// with a fixed step — systematic sampling — would lock onto the same letters in every length when
// the frame is regular.) The same words are used for every task and style, so items stay paired.
import Records
import TensorCore

public enum Sampling {
    public static let method = "one word at random from each of N equal zones of the distinct words sorted by length, first letter and a seeded hash"

    /// `count` of the distinct `words` (all of them, sorted, when there are no more than that).
    public static func words(_ words: [String], count: Int, seed: UInt64) -> [String] {
        let frame = Array(Set(words)).map { (word: $0, key: hash($0, seed)) }.sorted {
            let a = $0.word, b = $1.word
            if a.count != b.count { return a.count < b.count }
            let fa = a.lowercased().first ?? " ", fb = b.lowercased().first ?? " "
            if fa != fb { return fa < fb }
            return $0.key != $1.key ? $0.key < $1.key : a < b
        }.map(\.word)
        guard count < frame.count else { return frame }
        guard count > 0 else { return [] }
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { k in
            let lo = k * frame.count / count, hi = (k + 1) * frame.count / count   // hi > lo since count < frame.count
            return frame[lo + rng.below(hi - lo)]
        }
    }

    /// A seeded hash of a word (FNV-1a, then mixed with the seed by SplitMix64).
    static func hash(_ word: String, _ seed: UInt64) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in word.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var rng = SplitMix64(seed: h ^ seed)
        return rng.next()
    }
}

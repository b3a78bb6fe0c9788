// Train / held-out vocabulary / validation / test, deterministic for a seed and disjoint by
// construction (and asserted). Training items come from vocabulary tokens; validation and test
// from dictionary words that are not vocabulary tokens at all, so no evaluated word was ever a
// spelling target; a held-out slice of vocabulary tokens measures spelling generalisation on
// tokens separately. Samples are stratified by length and repeated letters.
import Records
import TensorCore

public struct DatasetSplits: Sendable {
    public var train: [VocabularyToken]
    public var heldoutVocab: [VocabularyToken]
    public var validation: [String]
    public var test: [String]
    /// Training tokens removed because an external benchmark (--exclude) contains them.
    public var decontaminated: [String]
    /// Dictionary words eligible for validation/test (lower-case a–z, length bounds, not vocabulary tokens).
    public var candidateWords: Int

    /// Fails if any word sits in two splits.
    public func assertDisjoint() throws {
        let sets: [(String, Set<String>)] = [("train", Set(train.map(\.text))), ("heldout_vocab", Set(heldoutVocab.map(\.text))),
                                             ("validation", Set(validation)), ("test", Set(test))]
        for i in 0..<sets.count {
            for j in (i + 1)..<sets.count {
                let shared = sets[i].1.intersection(sets[j].1)
                if !shared.isEmpty {
                    throw DatasetError.splitsOverlap(sets[i].0, sets[j].0, example: shared.sorted().first ?? "")
                }
            }
        }
    }
}

public enum SplitMaker {
    public static func make(tokens: [VocabularyToken], words: [String], exclude: Set<String>, config c: DatasetConfig) throws -> DatasetSplits {
        var rng = SplitMix64(seed: c.seed)
        let heldoutCount = Int((Double(tokens.count) * c.heldoutVocabFraction).rounded())
        let (heldout, rest) = stratifiedSample(tokens, count: heldoutCount, key: { "len=\(min($0.text.count, 10))" }, rng: &rng)
        let decontaminated = rest.filter { exclude.contains($0.text) }.map(\.text)
        let train = rest.filter { !exclude.contains($0.text) }
        guard !train.isEmpty else { throw DatasetError.nothingLeft("no training tokens are left after the held-out slice and --exclude") }

        let vocabulary = Set(tokens.map(\.text))
        let candidates = Array(Set(words.filter {
            Letters.isLowerASCIIWord($0) && (c.wordMinLength...c.wordMaxLength).contains($0.count) && !vocabulary.contains($0)
        })).sorted()
        func stratum(_ w: String) -> String { "len=\(min(w.count, 12))|rep=\(min(Letters.repeatedLetters(w), 2))" }
        let (validation, afterValidation) = stratifiedSample(candidates, count: min(c.validationSize, candidates.count), key: stratum, rng: &rng)
        let (test, _) = stratifiedSample(afterValidation, count: min(c.testSize, afterValidation.count), key: stratum, rng: &rng)
        let splits = DatasetSplits(train: train, heldoutVocab: heldout.sorted { $0.text < $1.text }, validation: validation.sorted(),
                                   test: test.sorted(), decontaminated: decontaminated.sorted(), candidateWords: candidates.count)
        try splits.assertDisjoint()
        return splits
    }

    /// Draws `count` items so each stratum keeps its share (largest-remainder rounding); returns
    /// the sample and the rest, both in input order.
    static func stratifiedSample<T>(_ items: [T], count: Int, key: (T) -> String, rng: inout SplitMix64) -> ([T], [T]) {
        guard count > 0, !items.isEmpty else { return ([], items) }
        var groups: [String: [Int]] = [:]
        for (i, x) in items.enumerated() { groups[key(x), default: []].append(i) }
        let keys = groups.keys.sorted()
        let members = keys.map { groups[$0] ?? [] }
        let exact = members.map { Double($0.count) * Double(count) / Double(items.count) }
        var quota = exact.map { Int($0) }
        let order = keys.indices.sorted { (exact[$0] - Double(quota[$0]), keys[$1]) > (exact[$1] - Double(quota[$1]), keys[$0]) }
        for i in order.prefix(count - quota.reduce(0, +)) { quota[i] += 1 }
        var chosen = Set<Int>()
        for k in keys.indices {
            var m = members[k]
            m.seededShuffle(&rng)
            chosen.formUnion(m.prefix(quota[k]))
        }
        var sample: [T] = [], rest: [T] = []
        for (i, x) in items.enumerated() { if chosen.contains(i) { sample.append(x) } else { rest.append(x) } }
        return (sample, rest)
    }
}

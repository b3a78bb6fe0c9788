// Numbers read from files are checked where they are decoded, against the domain their field
// lives in: a count is a whole number from 0 to 2^53 (so arithmetic on it cannot overflow and a
// Double holds it exactly), an accuracy or score lies in [0, 1], an interval is two ordered
// values. A number outside its domain is a damaged or hand-edited record, refused with the field
// named, before a release gate, a card or a chart can act on it.

/// The largest count a record may hold: exact in a Double, far from Int's overflow.
public let maxRecordCount = 1 << 53

extension KeyedDecodingContainer {
    func refuse(_ key: Key, _ why: String) -> DecodingError {
        DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: why)
    }

    /// A count: a whole number in 0...2^53.
    public func decodeCount(_ key: Key) throws -> Int {
        let n = try decode(Int.self, forKey: key)
        guard (0...maxRecordCount).contains(n) else { throw refuse(key, "expected a count in 0...\(maxRecordCount), found \(n)") }
        return n
    }

    /// A value in [0, 1] (accuracies, rates, BLEU, ROUGE, normalised distances), when present.
    public func decodeUnitIfPresent(_ key: Key) throws -> Double? {
        guard let v = try decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard (0...1).contains(v) else { throw refuse(key, "expected a value in [0, 1], found \(v)") }
        return v
    }

    public func decodeUnit(_ key: Key) throws -> Double {
        guard let v = try decodeUnitIfPresent(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "expected a value in [0, 1]"))
        }
        return v
    }

    /// n, correct, accuracy and its interval, under the keys given: counts in range, `correct` at most
    /// `n`, the accuracy and interval in [0, 1]. (Proportions, baselines and evaluation groups all
    /// carry these four.)
    public func decodeProportion(n nKey: Key, correct correctKey: Key, accuracy accuracyKey: Key, ci95 ciKey: Key) throws -> Proportion {
        let n = try decodeCount(nKey), correct = try decodeCount(correctKey)
        guard correct <= n else { throw refuse(correctKey, "expected at most n (\(n)) correct, found \(correct)") }
        return Proportion(n: n, correct: correct, accuracy: try decodeUnit(accuracyKey), ci95: try decodeUnitInterval(ciKey))
    }

    /// A 95 % interval of a value in [0, 1]: [low, high], both in [0, 1], low ≤ high.
    public func decodeUnitInterval(_ key: Key) throws -> [Double] {
        let ci = try decode([Double].self, forKey: key)
        guard ci.count == 2, ci.allSatisfy({ (0...1).contains($0) }), ci[0] <= ci[1] else {
            throw refuse(key, "expected an interval [low, high] within [0, 1], found \(ci)")
        }
        return ci
    }
}

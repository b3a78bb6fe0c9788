// Seeded randomness that is the same on every platform and Swift version: SplitMix64
// (Steele et al. 2014) and a Fisher–Yates shuffle written out here, because the standard
// library's `shuffle(using:)` algorithm is not promised to stay the same.

public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    /// Uniform in 0..<n (n > 0), by rejection so there is no modulo bias.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n), limit = UInt64.max - UInt64.max % bound
        while true { let r = next(); if r < limit { return Int(r % bound) } }
    }
}

extension Array {
    /// Fisher–Yates with SplitMix64: the same seed gives the same order everywhere.
    public mutating func seededShuffle(_ rng: inout SplitMix64) {
        guard count > 1 else { return }
        for i in stride(from: count - 1, to: 0, by: -1) { swapAt(i, rng.below(i + 1)) }
    }
}

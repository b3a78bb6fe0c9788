// Next-token selection. The stages run in the order transformers applies its logits
// processors: repetition penalty → temperature → top-k → top-p → min-p → draw. Temperature 0
// is greedy (argmax), which is what reproducible evaluation uses.
import Foundation
import TensorCore

public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Float = 0
    public var topK: Int = 0            // 0 = off
    public var topP: Float = 1          // 1 = off
    public var minP: Float = 0          // 0 = off
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    public static let greedy = SamplingParameters()
    /// Qwen3 model card, thinking mode ("do not use greedy").
    public static let qwen3Thinking = SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0)
    /// Qwen3 model card, non-thinking mode.
    public static let qwen3NonThinking = SamplingParameters(temperature: 0.7, topK: 20, topP: 0.8, minP: 0)

    public var isGreedy: Bool { temperature <= 0 }
}

public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    var rng: SplitMix64

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SplitMix64(seed: parameters.seed)
    }

    /// Picks the next token from `logits` (one row), given the ids seen so far (for the penalty).
    public mutating func sample(_ logits: [Float], history: [Int] = []) -> Int {
        var l = logits
        let p = parameters
        if p.repetitionPenalty != 1 {
            // CTRL-style (Keskar et al. 2019), as transformers: divide positive logits, multiply negative.
            for id in Set(history) where id >= 0 && id < l.count {
                l[id] = l[id] > 0 ? l[id] / p.repetitionPenalty : l[id] * p.repetitionPenalty
            }
        }
        if p.isGreedy { return argmax(l) }
        // Candidates sorted by logit, descending; ties by id for determinism. With top-k only the k best
        // are kept while scanning, instead of sorting the whole vocabulary for every token.
        let before = { (a: Int, b: Int) -> Bool in l[a] != l[b] ? l[a] > l[b] : a < b }
        var idx: [Int]
        if p.topK > 0 && p.topK < l.count {
            idx = []
            idx.reserveCapacity(p.topK + 1)
            for i in l.indices where idx.count < p.topK || before(i, idx[idx.count - 1]) {
                var lo = 0, hi = idx.count
                while lo < hi { let mid = (lo + hi) / 2; if before(idx[mid], i) { lo = mid + 1 } else { hi = mid } }
                idx.insert(i, at: lo)
                if idx.count > p.topK { idx.removeLast() }
            }
        } else {
            idx = Array(l.indices).sorted(by: before)
        }
        let maxLogit = Double(l[idx[0]]) / Double(p.temperature)
        var probs = idx.map { exp(Double(l[$0]) / Double(p.temperature) - maxLogit) }
        var total = probs.reduce(0, +)
        if p.topP < 1 {
            // Keep the smallest prefix whose mass reaches top_p (always at least one token).
            var cum = 0.0, keep = 0
            while keep < probs.count { cum += probs[keep] / total; keep += 1; if cum >= Double(p.topP) { break } }
            idx.removeSubrange(keep...)
            probs.removeSubrange(keep...)
            total = probs.reduce(0, +)
        }
        if p.minP > 0 {
            // Drop tokens below min_p × the top probability.
            let cutoff = Double(p.minP) * probs[0]
            let keep = probs.firstIndex { $0 < cutoff } ?? probs.count
            idx.removeSubrange(max(keep, 1)...)
            probs.removeSubrange(max(keep, 1)...)
            total = probs.reduce(0, +)
        }
        var u = rng.uniform() * total
        for (i, pr) in probs.enumerated() {
            u -= pr
            if u < 0 { return idx[i] }
        }
        return idx[idx.count - 1]
    }
}

/// Index of the largest value (first on ties, like torch.argmax).
public func argmax(_ x: [Float]) -> Int {
    var best = 0
    for i in 1..<x.count where x[i] > x[best] { best = i }
    return best
}

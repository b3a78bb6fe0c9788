// Per-item records of format-free scoring (`eval --scoring likelihood`) and of the answer a model's
// own spelling implies; both sit inside an `EvaluatedItem` line of items.jsonl.
import Foundation

/// A likelihood-scored item's candidates and their log-probabilities in the answer slot
/// (natural log, summed over each candidate's tokens), in the order the candidate set lists them.
public struct CandidateScores: Codable, Equatable, Sendable {
    public var candidates: [String]
    public var logprobs: [Double]

    public init(candidates: [String], logprobs: [Double]) {
        self.candidates = candidates
        self.logprobs = logprobs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        candidates = try c.decode([String].self, forKey: DynamicKey("candidates"))
        logprobs = try c.decode([Double].self, forKey: DynamicKey("logprobs"))
        guard !candidates.isEmpty, candidates.count == logprobs.count, Set(candidates).count == candidates.count,
              logprobs.allSatisfy({ $0 <= 0 && !$0.isNaN }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription:
                "expected as many distinct candidates as log-probabilities (each ≤ 0), at least one"))
        }
    }

    /// The candidates' probabilities renormalised over the set (softmax of the log-probabilities).
    public var probabilities: [Double] {
        guard let top = logprobs.max(), top > -Double.infinity else { return logprobs.map { _ in 1 / Double(max(logprobs.count, 1)) } }
        let e = logprobs.map { Foundation.exp($0 - top) }
        let z = e.reduce(0, +)
        return e.map { $0 / z }
    }

    /// The prediction: the most likely candidate (ties: the earlier in the set).
    public var argmax: String? {
        var best: Int? = nil
        for i in logprobs.indices where best == nil || logprobs[i] > logprobs[best ?? i] { best = i }
        return best.map { candidates[$0] }
    }

    /// 1 + the number of candidates strictly more likely than `gold`; nil when gold is not a candidate.
    public func rank(of gold: String) -> Int? {
        guard let g = candidates.firstIndex(of: gold) else { return nil }
        return 1 + logprobs.filter { $0 > logprobs[g] }.count
    }

    /// Multi-class Brier score: Σ_k (p_k − [k = gold])², over the renormalised candidate probabilities.
    public func brier(gold: String) -> Double {
        zip(candidates, probabilities).reduce(0) { $0 + ($1.1 - ($1.0 == gold ? 1 : 0)) * ($1.1 - ($1.0 == gold ? 1 : 0)) }
    }
}

/// What a model's own spelling of the word implies for a count or position question: the spelling
/// it gave to the spelling question about the same word (same mode and sample), and the count or
/// letter read off it. "The spelling knows" when `correct` is true, whatever the model answered.
public struct ImpliedAnswer: Codable, Equatable, Sendable {
    /// The letters the model spelled (nil when its spelling answer held no spelling).
    @ExplicitNull public var spelling: String?
    /// The count or letter that spelling implies (nil: no spelling, or the position lies past its end).
    @ExplicitNull public var answer: String?
    public var correct: Bool
    /// Whether the spelling itself was right.
    public var spellingCorrect: Bool

    enum CodingKeys: String, CodingKey { case spelling, answer, correct, spellingCorrect = "spelling_correct" }

    public init(spelling: String?, answer: String?, correct: Bool, spellingCorrect: Bool) {
        self.spelling = spelling
        self.answer = answer
        self.correct = correct
        self.spellingCorrect = spellingCorrect
    }
}

// Autoregressive decoding: prefill the prompt once into the KV cache, then one token per step, all
// through `DecodeScheduler`. Single-sequence generation streams text as it is produced; batched
// generation keeps many sequences in flight and stacks their next tokens into one forward pass per step.
import Foundation
import Models
import TensorCore
import Tokenization

public struct GenerationRequest: Sendable {
    public var promptIds: [Int]
    public var maxTokens: Int = 128
    public var sampling: SamplingParameters = .greedy
    public var stopTokenIds: Set<Int> = []
    public var stopStrings: [String] = []
    /// Record each token's log-probability (and the stop token's) for `DecodeOutput.confidence`.
    public var logprobs = false

    public init(promptIds: [Int], maxTokens: Int = 128, sampling: SamplingParameters = .greedy,
                stopTokenIds: Set<Int> = [], stopStrings: [String] = [], logprobs: Bool = false) {
        self.promptIds = promptIds
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokenIds = stopTokenIds
        self.stopStrings = stopStrings
        self.logprobs = logprobs
    }
}

public struct GenerationResult: Sendable {
    public enum FinishReason: String, Sendable { case stopToken = "stop_token", stopString = "stop_string", length }
    public var promptIds: [Int]
    /// Generated ids, excluding a final stop token.
    public var outputIds: [Int]
    public var text: String
    public var finishReason: FinishReason
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptIds.count) / prefillSeconds : 0 }
    /// Decode steps after the first token (which comes from the prefill logits).
    public var decodeTokensPerSecond: Double {
        let steps = max(outputIds.count - 1 + (finishReason == .stopToken ? 1 : 0), 0)
        return decodeSeconds > 0 ? Double(steps) / decodeSeconds : 0
    }
}


public struct Generator: Sendable {
    public let model: any CausalLM
    public let tokenizer: Tokenizer

    public init(model: any CausalLM, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Generates for one prompt; `onText` receives each newly completed piece of text.
    public func generate(_ req: GenerationRequest, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        let scheduler = DecodeScheduler(model: model, tokenizer: tokenizer, slots: 1)
        do { try scheduler.admit(0, req) } catch DecodeScheduler.Refusal.emptyPrompt { throw GenerationError.emptyPrompt } catch {
            return GenerationResult(promptIds: req.promptIds, outputIds: [], text: "", finishReason: .length, prefillSeconds: 0, decodeSeconds: 0)
        }
        var decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecial: true)
        while true {
            for event in try scheduler.step() {
                switch event {
                case .token(_, let t): onText(decoder.push(t))
                case .finished(_, let o):
                    if o.result.finishReason != .stopString { onText(decoder.flush()) }
                    return o.result
                }
            }
        }
    }

    /// Generates for many prompts at once, all in flight together. Greedy results equal
    /// one-at-a-time generation.
    public func generateBatch(_ reqs: [GenerationRequest]) throws -> [GenerationResult] {
        try generateContinuous(reqs, slots: reqs.count)
    }

    /// Generates for many prompts with at most `slots` sequences in flight (`DecodeScheduler`): each
    /// step is one forward pass that prefills newly admitted prompts and advances running ones
    /// together, and a finished sequence's slot goes to the next prompt. `onFinish` gets (index, result).
    public func generateContinuous(_ reqs: [GenerationRequest], slots: Int,
                                   onFinish: (Int, GenerationResult) throws -> Void = { _, _ in }) throws -> [GenerationResult] {
        let scheduler = DecodeScheduler(model: model, tokenizer: tokenizer, slots: min(slots, reqs.count))
        // Prompts built from one chat template share a long prefix (system prompt, turn markers):
        // compute its keys/values once and copy them into each slot.
        let shared = Self.sharedPrefix(reqs.map(\.promptIds))
        if reqs.count > 1 && shared.count >= 8 { try scheduler.setSharedPrefix(shared) }
        var results = [GenerationResult?](repeating: nil, count: reqs.count)
        func finished(_ i: Int, _ r: GenerationResult) throws {
            results[i] = r
            try onFinish(i, r)
        }
        var next = 0
        while next < reqs.count || !scheduler.isIdle {
            while scheduler.freeSlots > 0 && next < reqs.count {
                let i = next
                next += 1
                do { try scheduler.admit(i, reqs[i]) } catch DecodeScheduler.Refusal.emptyPrompt { throw GenerationError.emptyPrompt } catch {
                    // A prompt that fills the context leaves no room to generate: it ends at once, as truncated.
                    try finished(i, GenerationResult(promptIds: reqs[i].promptIds, outputIds: [], text: "", finishReason: .length,
                                                     prefillSeconds: 0, decodeSeconds: 0))
                }
            }
            for case .finished(let i, let o) in try scheduler.step() { try finished(i, o.result) }
        }
        return results.compactMap { $0 }
    }

    /// The longest prefix every prompt shares, stopping one token short of the shortest prompt (so each
    /// prompt keeps a token of its own to produce its logits from).
    public static func sharedPrefix(_ prompts: [[Int]]) -> [Int] {
        var shared = prompts.first ?? []
        for p in prompts.dropFirst() where !shared.isEmpty {
            var k = 0
            while k < min(shared.count, p.count), shared[k] == p[k] { k += 1 }
            shared.removeSubrange(k...)
        }
        if let shortest = prompts.map(\.count).min() { shared = Array(shared.prefix(max(0, shortest - 1))) }
        return shared
    }

    /// Where the earliest stop string starts in `text`, if any occurs.
    public static func stopStringCut(_ text: String, _ stops: [String]) -> String.Index? {
        stops.compactMap { $0.isEmpty ? nil : text.range(of: $0)?.lowerBound }.min()
    }
}

public enum GenerationError: Error, CustomStringConvertible {
    case emptyPrompt
    public var description: String { "the prompt encodes to no tokens; give some text (or use --chat)." }
}

/// Qwen3-style reasoning output split at the last `</think>`: text before is the thinking,
/// after is the answer. Without the marker, everything is the answer.
public func splitReasoning(_ text: String) -> (thinking: String?, answer: String) {
    guard let r = text.range(of: "</think>", options: .backwards) else { return (nil, text) }
    var thinking = String(text[..<r.lowerBound])
    if let open = thinking.range(of: "<think>") { thinking = String(thinking[open.upperBound...]) }
    return (thinking.trimmingCharacters(in: .whitespacesAndNewlines),
            String(text[r.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines))
}

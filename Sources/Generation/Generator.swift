// Autoregressive decoding: prefill the prompt once into the KV cache, then one token per step.
// Single-sequence generation streams text as it is produced; batched generation keeps many
// sequences in flight and stacks their next tokens into one forward pass per step.
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

    public init(promptIds: [Int], maxTokens: Int = 128, sampling: SamplingParameters = .greedy,
                stopTokenIds: Set<Int> = [], stopStrings: [String] = []) {
        self.promptIds = promptIds
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokenIds = stopTokenIds
        self.stopStrings = stopStrings
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

    public init(promptIds: [Int], outputIds: [Int], text: String, finishReason: FinishReason, prefillSeconds: Double, decodeSeconds: Double) {
        self.promptIds = promptIds
        self.outputIds = outputIds
        self.text = text
        self.finishReason = finishReason
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
    }

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
        guard !req.promptIds.isEmpty else { throw GenerationError.emptyPrompt }
        let cache = model.makeCache()
        var sampler = Sampler(req.sampling)
        var decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecial: true)
        let maxNew = min(req.maxTokens, model.config.contextLength - req.promptIds.count)
        var out: [Int] = []
        var text = ""
        var reason = GenerationResult.FinishReason.length

        let t0 = now()
        var logits = try model.forward(ForwardBatch(tokens: req.promptIds), cache: cache, logits: .last).storage
        let t1 = now()
        var history = req.promptIds
        while out.count < maxNew {
            let next = sampler.sample(logits, history: history)
            if req.stopTokenIds.contains(next) { reason = .stopToken; break }
            out.append(next)
            history.append(next)
            let piece = decoder.push(next)
            text += piece
            if let cut = Self.stopStringCut(text, req.stopStrings) {
                text = String(text[..<cut])
                reason = .stopString
                onText(piece)
                break
            }
            onText(piece)
            if out.count == maxNew { break }
            logits = try model.forward(ForwardBatch(tokens: [next]), cache: cache, logits: .last).storage
        }
        if reason != .stopString {
            let rest = decoder.flush()
            text += rest
            onText(rest)
        }
        return GenerationResult(promptIds: req.promptIds, outputIds: out, text: text, finishReason: reason,
                                prefillSeconds: t1 - t0, decodeSeconds: now() - t1)
    }

    /// Generates for many prompts at once, all in flight together. Greedy results equal
    /// one-at-a-time generation.
    public func generateBatch(_ reqs: [GenerationRequest]) throws -> [GenerationResult] {
        try generateContinuous(reqs, slots: reqs.count)
    }

    /// Generates for many prompts with at most `slots` sequences in flight: each step is one
    /// forward pass that prefills newly admitted prompts and advances running ones together, and a
    /// finished sequence's slot goes to the next waiting prompt. `onFinish` gets (index, result).
    public func generateContinuous(_ reqs: [GenerationRequest], slots: Int, onFinish: (Int, GenerationResult) throws -> Void = { _, _ in }) throws -> [GenerationResult] {
        let cache = model.makeCache(slots: max(1, min(slots, reqs.count)))
        var results = [GenerationResult?](repeating: nil, count: reqs.count)
        var samplers = reqs.map { Sampler($0.sampling) }
        var outs = [[Int]](repeating: [], count: reqs.count)
        var waiting = Array(reqs.indices).reversed() as [Int]
        var running: [Int: Int] = [:]          // slot → request
        var pendingInput: [Int: [Int]] = [:]   // slot → tokens to feed next step
        let t0 = now()
        // Prompts built from one chat template share a long prefix (system prompt, turn markers):
        // compute its keys/values once and copy them into each slot (prefix caching).
        let shared = Self.sharedPrefix(reqs.map(\.promptIds))
        var prefixCache: KVCache? = nil
        if reqs.count > 1 && shared.count >= 8 && shared.count < model.config.contextLength {
            let pc = model.makeCache()
            _ = try model.forward(ForwardBatch(tokens: shared), cache: pc, logits: .last)
            prefixCache = pc
        }
        func finish(_ slot: Int, _ i: Int, _ reason: GenerationResult.FinishReason) throws {
            let r = GenerationResult(promptIds: reqs[i].promptIds, outputIds: outs[i], text: tokenizer.decode(outs[i], skipSpecial: true),
                                     finishReason: reason, prefillSeconds: 0, decodeSeconds: now() - t0)
            results[i] = r
            try onFinish(i, r)
            running[slot] = nil
            pendingInput[slot] = nil
            cache.reset(slot: slot)
        }
        while !waiting.isEmpty || !running.isEmpty {
            for slot in 0..<cache.slots where running[slot] == nil {
                guard var i = waiting.popLast() else { break }
                // A prompt that fills the context leaves no room to generate: it ends at once, as truncated.
                while reqs[i].promptIds.count >= model.config.contextLength {
                    let r = GenerationResult(promptIds: reqs[i].promptIds, outputIds: [], text: "", finishReason: .length, prefillSeconds: 0, decodeSeconds: 0)
                    results[i] = r
                    try onFinish(i, r)
                    guard let next = waiting.popLast() else { i = -1; break }
                    i = next
                }
                if i < 0 { break }
                if reqs[i].promptIds.isEmpty { throw GenerationError.emptyPrompt }
                running[slot] = i
                if let pc = prefixCache {
                    cache.copyPrefix(from: pc, slot: 0, count: shared.count, into: slot)
                    pendingInput[slot] = Array(reqs[i].promptIds[shared.count...])
                } else {
                    pendingInput[slot] = reqs[i].promptIds
                }
            }
            let order = running.keys.sorted()
            if order.isEmpty { continue }
            // Every running slot has its next input queued (set when admitted and after each step).
            let batch = ForwardBatch(order.map { ForwardBatch.Sequence(slot: $0, tokens: pendingInput[$0] ?? []) })
            let logits = try model.forward(batch, cache: cache, logits: .last)
            for (row, slot) in order.enumerated() {
                let i = running[slot]!
                // The history only matters to the repetition penalty; skip building it otherwise (every step, every slot).
                let tok = samplers[i].sample(logits.row(row), history: reqs[i].sampling.repetitionPenalty != 1 ? reqs[i].promptIds + outs[i] : [])
                if reqs[i].stopTokenIds.contains(tok) { try finish(slot, i, .stopToken); continue }
                outs[i].append(tok)
                let limit = min(reqs[i].maxTokens, model.config.contextLength - reqs[i].promptIds.count)
                if outs[i].count >= limit { try finish(slot, i, .length); continue }
                if !reqs[i].stopStrings.isEmpty, Self.stopStringCut(tokenizer.decode(outs[i], skipSpecial: true), reqs[i].stopStrings) != nil {
                    try finish(slot, i, .stopString); continue
                }
                pendingInput[slot] = [tok]
            }
        }
        return results.map { $0! }
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

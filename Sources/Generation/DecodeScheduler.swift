// Continuous batching, the one decode loop of the project: `Generator` (one prompt, a fixed list)
// and the server's engine (requests that arrive at any time) both step it.
//
// Each `step()` is one forward pass over every running sequence: newly admitted prompts are
// prefilled and running ones advance a token, together. A sequence ends on a stop token, a stop
// string or its length limit; its slot is then free for the next admission. The caller owns the
// queue, deadlines and threads; the scheduler owns slots, the shared-prefix copy, sampling, the stop
// and length checks, per-token log-probabilities and finish reasons.
import Foundation
import Models
import TensorCore
import Tokenization

/// What a finished sequence reports besides its text.
public struct DecodeOutput: Sendable {
    public var result: GenerationResult
    /// log p(token) of each generated token under the model's raw distribution (before temperature or
    /// truncation); empty unless the request asked for `logprobs`.
    public var tokenLogprobs: [Double]
    /// log p(stop token) when the sequence ended with one (and asked for `logprobs`).
    public var stopLogprob: Double?
    /// When the sequence was admitted and when its first token was sampled (`now()` clock).
    public var admitted: Double
    public var firstToken: Double

    /// The model's probability of the answer it gave, its end included: an answer that ended on a stop
    /// token pays for that token, so an empty answer is as certain as the model was that it should stop.
    public var confidence: Double { exp(tokenLogprobs.reduce(0, +) + (stopLogprob ?? 0)) }
}

public final class DecodeScheduler {
    public typealias ID = Int

    public enum Event {
        /// A token was generated for `id` (stop tokens are not reported here).
        case token(ID, Int)
        case finished(ID, DecodeOutput)
    }

    /// Why a prompt cannot be admitted.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case emptyPrompt
        case fillsContext(contextLength: Int)
        public var description: String {
            switch self {
            case .emptyPrompt: return "the prompt encodes to no tokens"
            case .fillsContext(let n): return "the prompt fills the model's context (\(n) tokens)"
            }
        }
    }

    struct Sequence {
        let id: ID
        let request: GenerationRequest
        var sampler: Sampler
        var input: [Int]
        var out: [Int] = []
        var logprobs: [Double] = []
        let admitted: Double
        var firstToken: Double?
    }

    public let model: any CausalLM
    public let tokenizer: Tokenizer
    let cache: KVCache
    var slots: [Sequence?]
    public private(set) var prefix: [Int] = []
    var prefixCache: KVCache?

    public init(model: any CausalLM, tokenizer: Tokenizer, slots: Int) {
        self.model = model
        self.tokenizer = tokenizer
        cache = model.makeCache(slots: max(1, slots))
        self.slots = Array(repeating: nil, count: max(1, slots))
    }

    /// Computes the keys and values of `ids` once; every later prompt that starts with them copies
    /// them into its slot and prefills only its own tokens (prefix caching).
    public func setSharedPrefix(_ ids: [Int]) throws {
        guard !ids.isEmpty, ids.count < model.config.contextLength else { prefix = []; prefixCache = nil; return }
        let pc = model.makeCache()
        _ = try model.forward(ForwardBatch(tokens: ids), cache: pc, logits: .last)
        prefix = ids
        prefixCache = pc
    }

    public var freeSlots: Int { slots.reduce(0) { $0 + ($1 == nil ? 1 : 0) } }
    /// Tokens the next `step()` feeds the model: each new prompt's (after the shared prefix), one per running sequence.
    public var pendingTokens: Int { slots.reduce(0) { $0 + ($1?.input.count ?? 0) } }
    public var running: Int { slots.count - freeSlots }
    public var isIdle: Bool { running == 0 }

    /// Puts `request` into the lowest free slot and returns the prompt tokens it will prefill (those after
    /// the shared prefix). The caller checks `freeSlots` first.
    @discardableResult
    public func admit(_ id: ID, _ request: GenerationRequest) throws(Refusal) -> Int {
        let ids = request.promptIds
        guard !ids.isEmpty else { throw .emptyPrompt }
        guard ids.count < model.config.contextLength else { throw .fillsContext(contextLength: model.config.contextLength) }
        guard let slot = slots.firstIndex(where: { $0 == nil }) else { preconditionFailure("admit() without a free slot") }
        cache.reset(slot: slot)
        var input = ids
        if let pc = prefixCache, ids.count > prefix.count, ids.starts(with: prefix) {
            cache.copyPrefix(from: pc, slot: 0, count: prefix.count, into: slot)
            input = Array(ids[prefix.count...])
        }
        slots[slot] = Sequence(id: id, request: request, sampler: Sampler(request.sampling), input: input, admitted: now())
        return input.count
    }

    /// Drops `id` (cancelled, late) and frees its slot; false when it was not running.
    @discardableResult
    public func cancel(_ id: ID) -> Bool {
        guard let slot = slots.firstIndex(where: { $0?.id == id }) else { return false }
        release(slot)
        return true
    }

    /// Drops every running sequence (after a failed forward pass, nothing they hold is trustworthy).
    public func cancelAll() { for slot in slots.indices where slots[slot] != nil { release(slot) } }

    func release(_ slot: Int) {
        slots[slot] = nil
        cache.reset(slot: slot)
    }

    /// One forward pass for every running sequence, then one sampled token each. Returns the tokens
    /// and the sequences that finished, in slot order.
    public func step() throws -> [Event] {
        let order = slots.indices.filter { slots[$0] != nil }
        guard !order.isEmpty else { return [] }
        let batch = ForwardBatch(order.map { ForwardBatch.Sequence(slot: $0, tokens: slots[$0]?.input ?? []) })
        let logits = try model.forward(batch, cache: cache, logits: .last)
        let stepTime = now()
        var events: [Event] = []
        for (row, slot) in order.enumerated() {
            guard var s = slots[slot] else { continue }
            let req = s.request
            let scores = logits.row(row)
            // The history only matters to the repetition penalty; skip building it otherwise (every step, every slot).
            let tok = s.sampler.sample(scores, history: req.sampling.repetitionPenalty != 1 ? req.promptIds + s.out : [])
            if s.firstToken == nil { s.firstToken = stepTime }
            var reason: GenerationResult.FinishReason?
            var stopLogprob: Double?
            if req.stopTokenIds.contains(tok) {
                reason = .stopToken
                if req.logprobs { stopLogprob = LogSoftmaxRow(scores)[tok] }
            } else {
                s.out.append(tok)
                if req.logprobs { s.logprobs.append(LogSoftmaxRow(scores)[tok]) }
                events.append(.token(s.id, tok))
                let limit = min(req.maxTokens, model.config.contextLength - req.promptIds.count)
                if s.out.count >= limit { reason = .length }
                else if !req.stopStrings.isEmpty, Generator.stopStringCut(tokenizer.decode(s.out, skipSpecial: true), req.stopStrings) != nil {
                    reason = .stopString
                }
            }
            guard let reason else {
                s.input = [tok]
                slots[slot] = s
                continue
            }
            var text = tokenizer.decode(s.out, skipSpecial: true)
            if reason == .stopString, let cut = Generator.stopStringCut(text, req.stopStrings) { text = String(text[..<cut]) }
            let first = s.firstToken ?? stepTime
            let result = GenerationResult(promptIds: req.promptIds, outputIds: s.out, text: text, finishReason: reason,
                                          prefillSeconds: first - s.admitted, decodeSeconds: stepTime - first)
            events.append(.finished(s.id, DecodeOutput(result: result, tokenLogprobs: s.logprobs, stopLogprob: stopLogprob,
                                                       admitted: s.admitted, firstToken: first)))
            release(slot)
        }
        return events
    }
}

/// One row's log-softmax, computed in double precision (a difference of logits near 40 loses bits in
/// float): the served confidence and likelihood scoring both read it.
public struct LogSoftmaxRow {
    public let row: [Float]
    public let lse: Double
    public init(_ row: [Float]) {
        self.row = row
        let top = Double(row.max() ?? 0)
        var s = 0.0
        for x in row { s += Foundation.exp(Double(x) - top) }
        lse = top + Foundation.log(s)
    }
    /// log p(token); −∞ for a token outside the row.
    public subscript(_ token: Int) -> Double { row.indices.contains(token) ? Double(row[token]) - lse : -.infinity }
}

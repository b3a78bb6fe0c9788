// Format-free scoring: lm-evaluation-harness's multiple-choice log-likelihood, in the chat format.
//
// For a question whose answer is one of a closed set (a count 0…20, a letter a…z, yes/no), the
// model is not asked to write anything: each candidate c is scored by
//
//     log P(c | prompt) = Σ_k log softmax(logits after prompt + c[<k])[c[k]]
//
// in the answer slot, right after the rendered prompt (the chat template's assistant turn opener,
// the same ids generation starts from). The prediction is the argmax. A model that "spells instead
// of answering" still puts probability on the right count if it knows it, so this separates what a
// model knows from the format it answers in.
//
// Conventions (lm-evaluation-harness's, kept so its numbers and ours agree): a candidate's tokens
// are those of encode(context + candidate) past the length of encode(context), so a merge across
// the boundary is scored as the tokenizer would really produce it; log-probabilities are summed
// over the candidate's tokens, not length-normalised. Unlike lm-evaluation-harness with a plain
// prompt, no target delimiter is inserted and the context's trailing newline is not moved into the
// candidate: in a chat template that newline belongs to the turn opener, and every candidate would
// carry the same extra log P("\n"), changing no ranking. Candidates that extend another ("10" after
// "1") are each scored on their own tokens; with digits tokenised one by one "1" is always at least
// as likely as "1x", which only matters for golds ≥ 10 (docs/metrics.md).
//
// Cost: one forward pass of each prompt (batched, the shared chat-template prefix computed once),
// then one continuation per distinct prefix of the multi-token candidates (for the counts 10…20 with
// digits tokenised one by one: "1" and "2"), from copies of that prompt's KV cache.
import Foundation
import Generation
import Models
import Records
import TensorCore
import Tokenization

public struct LikelihoodScorer {
    public let model: any CausalLM
    public let tokenizer: Tokenizer

    public init(model: any CausalLM, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// One prompt to score: its text (the rendered chat prompt), its ids, and the candidates.
    public struct Query {
        public var context: String
        public var contextIds: [Int]
        public var candidates: [String]
        public init(context: String, contextIds: [Int], candidates: [String]) {
            self.context = context
            self.contextIds = contextIds
            self.candidates = candidates
        }
    }

    /// A candidate's tokens in the answer slot: encode(context + candidate) past encode(context)'s
    /// length (`contextCount`, computed once per prompt).
    public func continuation(_ q: Query, _ candidate: String, contextCount: Int) throws -> [Int] {
        let whole = tokenizer.encode(q.context + candidate)
        guard whole.count > contextCount else {
            throw EvaluationError.badRequest("the candidate '\(candidate.prefix(40))' encodes to no tokens after its prompt")
        }
        return Array(whole[contextCount...])
    }

    /// log P(candidate | context) for every query and candidate: [query][candidate], natural log.
    /// `batch` prompts go through one forward pass; `progress` gets the number of queries done.
    public func score(_ queries: [Query], batch: Int, progress: (Int) throws -> Void = { _ in }) throws -> [[Double]] {
        guard !queries.isEmpty else { return [] }
        let conts = try queries.map { q in
            let n = tokenizer.encode(q.context).count
            return try q.candidates.map { try continuation(q, $0, contextCount: n) }
        }
        for (q, cs) in zip(queries, conts) {
            guard !q.contextIds.isEmpty else { throw GenerationError.emptyPrompt }
            let longest = cs.map(\.count).max() ?? 0
            guard q.contextIds.count + longest <= model.config.contextLength else {
                throw EvaluationError.badRequest("a prompt of \(q.contextIds.count) tokens and its candidates do not fit the model's context of \(model.config.contextLength)")
            }
        }
        // Prompts rendered by one chat template share a long prefix: compute it once.
        let shared = Generator.sharedPrefix(queries.map(\.contextIds))
        var prefix: KVCache? = nil
        if queries.count > 1 && shared.count >= 8 {
            let pc = model.makeCache()
            _ = try model.forward(ForwardBatch(tokens: shared), cache: pc, logits: .last)
            prefix = pc
        }

        var out = [[Double]](repeating: [], count: queries.count)
        var start = 0
        while start < queries.count {
            let chunk = Array(start..<min(start + max(1, batch), queries.count))
            // 1. Every prompt of the chunk: the next-token distribution gives each candidate's first token.
            let cache = model.makeCache(slots: chunk.count)
            var seqs: [ForwardBatch.Sequence] = []
            for (slot, qi) in chunk.enumerated() {
                if let prefix {
                    cache.copyPrefix(from: prefix, slot: 0, count: shared.count, into: slot)
                    seqs.append(.init(slot: slot, tokens: Array(queries[qi].contextIds[shared.count...])))
                } else {
                    seqs.append(.init(slot: slot, tokens: queries[qi].contextIds))
                }
            }
            let first = try model.forward(ForwardBatch(seqs), cache: cache, logits: .last)
            // Candidates' later tokens: one continuation per distinct prefix of them (the counts 10…19 all
            // continue "1": one sequence serves ten candidates), each from a copy of its prompt's cache.
            var tails: [(query: Int, prefix: [Int], reads: [(candidate: Int, offset: Int, token: Int)])] = []
            for (row, qi) in chunk.enumerated() {
                let lsm = LogSoftmaxRow(first.row(row))
                out[qi] = conts[qi].map { lsm[$0[0]] }
                var byPrefix: [[Int]: Int] = [:]
                for (j, c) in conts[qi].enumerated() where c.count > 1 {
                    let key = Array(c.dropLast())
                    let t = byPrefix[key] ?? { tails.append((qi, key, [])); byPrefix[key] = tails.count - 1; return tails.count - 1 }()
                    // Row k of the prefix's logits predicts token k + 1 of the candidate.
                    for k in 1..<c.count { tails[t].reads.append((j, k - 1, c[k])) }
                }
            }
            if !tails.isEmpty {
                let tc = model.makeCache(slots: tails.count)
                var tseqs: [ForwardBatch.Sequence] = []
                for (s, t) in tails.enumerated() {
                    guard let slot = chunk.firstIndex(of: t.query) else { continue }
                    tc.copyPrefix(from: cache, slot: slot, count: queries[t.query].contextIds.count, into: s)
                    tseqs.append(.init(slot: s, tokens: t.prefix))
                }
                let batchT = ForwardBatch(tseqs)
                let logits = try model.forward(batchT, cache: tc, logits: .all)
                for (s, t) in tails.enumerated() {
                    let rows = (0..<t.prefix.count).map { LogSoftmaxRow(logits.row(batchT.rowOffsets[s] + $0)) }
                    for r in t.reads { out[t.query][r.candidate] += rows[r.offset][r.token] }
                }
            }
            start += chunk.count
            try progress(start)
        }
        return out
    }
}


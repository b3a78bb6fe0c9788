// The inference engine behind the server: one worker thread owns the model and runs continuous
// batching over requests that arrive at any time — each step is one forward pass that prefills newly
// admitted prompts and advances running ones together (as `Generator.generateContinuous` does for a
// fixed list), and a finished, cancelled or late request frees its slot for the next in the queue.
//
// Admission is bounded (`maxQueue` waiting): a full queue is refused at once (the server answers 429),
// so overload never grows memory or latency without limit. Each request carries a deadline and a
// cancellation flag (client gone); both are checked every step. `confidence` is the model's own
// probability of the answer it gave: the product of the softmax probabilities (raw logits) of its
// tokens and of the token that ended it (before temperature or truncation).
import Foundation
import Generation
import Models
import TensorCore
import Tokenization

public enum EngineError: Error, Equatable, CustomStringConvertible {
    case queueFull(depth: Int)
    case deadlineExceeded
    case cancelled
    case shuttingDown
    case failed(String)

    public var description: String {
        switch self {
        case .queueFull(let d): return "the queue is full (\(d) waiting)"
        case .deadlineExceeded: return "the request took longer than its deadline"
        case .cancelled: return "the request was cancelled"
        case .shuttingDown: return "the server is shutting down"
        case .failed(let m): return m
        }
    }
}

/// A finished generation with what the server reports about it.
public struct EngineOutput: Sendable {
    public var result: GenerationResult
    /// log p(token) of each generated token (stop token excluded) under the model's raw distribution.
    public var tokenLogprobs: [Double]
    /// log p(stop token) when the answer ended with one: the probability of ending there.
    public var stopLogprob: Double?
    public var queueSeconds: Double
    public var timeToFirstToken: Double
    /// The model's probability of the answer it gave, its end included (so an empty answer is not certain).
    public var confidence: Double { exp(tokenLogprobs.reduce(0, +) + (stopLogprob ?? 0)) }
}

/// What the engine reports to metrics as it runs.
public protocol EngineObserver: AnyObject, Sendable {
    func batchStep(size: Int)
    func queueChanged(waiting: Int, running: Int)
    func finished(tokens: Int, timeToFirstToken: Double)
}

public final class InferenceEngine: @unchecked Sendable {
    public let maxBatch: Int
    public let maxQueue: Int
    let model: any CausalLM
    let tokenizer: Tokenizer
    weak var observer: EngineObserver?

    final class Job: @unchecked Sendable {
        let request: GenerationRequest
        let deadline: Double
        let submitted = now()
        var cancelled = false          // guarded by the engine's lock
        var out: [Int] = []
        var logprobs: [Double] = []
        var sampler: Sampler
        var firstToken: Double?
        var admitted: Double?
        let onFinish: (Result<EngineOutput, EngineError>) -> Void
        let once = NSLock()
        var finished = false
        init(_ r: GenerationRequest, deadline: Double, finish: @escaping (Result<EngineOutput, EngineError>) -> Void) {
            request = r
            self.deadline = deadline
            sampler = Sampler(r.sampling)
            onFinish = finish
        }
        /// Reports the outcome exactly once (a drain and the worker may both try).
        func finish(_ r: Result<EngineOutput, EngineError>) {
            once.lock()
            let first = !finished
            finished = true
            once.unlock()
            if first { onFinish(r) }
        }
    }

    let lock = NSCondition()
    var waiting: [Job] = []          // FIFO
    var running: [Int: Job] = [:]    // slot → job
    var pending: [Int: [Int]] = [:]  // slot → next input tokens
    var stopping = false
    /// Tests hold the worker to fill the queue deterministically.
    var held = false
    var worker: Thread?
    let cache: KVCache
    /// The chat template's opening tokens, shared by every prompt: their keys and values are computed
    /// once and copied into each new sequence's slot, so a request prefills only its own tokens.
    var sharedPrefix: [Int] = []
    var prefixCache: KVCache?

    public init(model: any CausalLM, tokenizer: Tokenizer, maxBatch: Int, maxQueue: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.maxBatch = max(1, maxBatch)
        self.maxQueue = max(0, maxQueue)
        cache = model.makeCache(slots: self.maxBatch)
        // The worker holds the engine only for one pass at a time, so an engine nobody uses is freed
        // (its deinit stops the worker).
        let t = Thread { [weak self] in
            while let engine = self { guard engine.iterate() else { return } }
        }
        t.name = "strawberry-inference"
        t.stackSize = 8 << 20
        worker = t
        t.start()
    }

    /// The model's context length (prompt and generated tokens together).
    public var contextLength: Int { model.config.contextLength }

    public func setObserver(_ o: EngineObserver) { lock.lock(); observer = o; lock.unlock() }

    /// Precomputes the keys and values of `ids`, the prefix every prompt of the server starts with.
    /// Call before serving (it runs the model on the calling thread).
    public func setSharedPrefix(_ ids: [Int]) throws {
        guard ids.count >= 4, ids.count < model.config.contextLength / 2 else { return }
        let pc = model.makeCache()
        _ = try model.forward(ForwardBatch(tokens: ids), cache: pc, logits: .last)
        lock.lock()
        sharedPrefix = ids
        prefixCache = pc
        lock.unlock()
    }

    /// Waiting and running requests.
    public var load: (waiting: Int, running: Int) {
        lock.lock(); defer { lock.unlock() }
        return (waiting.count, running.count)
    }

    /// Whether a new request would be admitted now.
    public var saturated: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopping || waiting.count + running.count >= maxBatch + maxQueue
    }

    /// Generates for `request`; throws `EngineError` when the queue is full, the deadline passes, the
    /// calling task is cancelled (the client went away) or the engine is stopping.
    public func generate(_ request: GenerationRequest, timeout: Double) async throws -> EngineOutput {
        let box = CancelBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<EngineOutput, Error>) in
                let job = Job(request, deadline: now() + max(0, timeout)) { result in
                    switch result {
                    case .success(let o): c.resume(returning: o)
                    case .failure(let e): c.resume(throwing: e)
                    }
                }
                lock.lock()
                if stopping { lock.unlock(); c.resume(throwing: EngineError.shuttingDown); return }
                // Capacity: the batch's slots plus the queue; what is beyond both is refused now, not queued.
                if waiting.count + running.count >= maxBatch + maxQueue {
                    let d = waiting.count
                    lock.unlock()
                    c.resume(throwing: EngineError.queueFull(depth: d))
                    return
                }
                if box.cancelled { lock.unlock(); c.resume(throwing: EngineError.cancelled); return }
                box.job = job
                waiting.append(job)
                observer?.queueChanged(waiting: waiting.count, running: running.count)
                lock.signal()
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            box.cancelled = true
            box.job?.cancelled = true
            lock.signal()
            lock.unlock()
        }
    }

    final class CancelBox: @unchecked Sendable { var cancelled = false; var job: Job? }

    /// Pauses (true) or resumes the worker between steps (for tests).
    func hold(_ on: Bool) {
        lock.lock(); held = on; lock.broadcast(); lock.unlock()
    }

    /// Stops admitting requests and waits up to `timeout` seconds for those admitted to finish; the
    /// ones still running then are failed with `.shuttingDown`. Returns how many were completed while draining.
    @discardableResult
    public func drain(timeout: Double) -> Int {
        lock.lock()
        stopping = true
        let before = waiting.count + running.count
        let end = now() + timeout
        while !(waiting.isEmpty && running.isEmpty) && now() < end {
            lock.signal()
            _ = lock.wait(until: Date(timeIntervalSinceNow: min(0.05, max(0, end - now()))))
        }
        let left = waiting + Array(running.values)
        waiting.removeAll()
        running.removeAll()
        lock.signal()
        lock.unlock()
        for j in left { j.finish(.failure(.shuttingDown)) }
        return before - left.count
    }

    // MARK: the worker

    /// One pass of the worker: admit, step every running sequence once, finish what is done. Returns
    /// false once the engine has stopped.
    func iterate() -> Bool {
        lock.lock()
        while (waiting.isEmpty && running.isEmpty || held) && !stopping {
            // Idle: come back at least every half second, letting go of the engine in between.
            if !lock.wait(until: Date(timeIntervalSinceNow: 0.5)) { lock.unlock(); return true }
        }
        if stopping && waiting.isEmpty && running.isEmpty { lock.broadcast(); lock.unlock(); return false }
        // Drop what was cancelled or is already late, then admit into free slots, oldest first.
        var failed: [(Job, EngineError)] = []
        let t = now()
        waiting.removeAll { j in
            if j.cancelled { failed.append((j, .cancelled)); return true }
            if t > j.deadline { failed.append((j, .deadlineExceeded)); return true }
            return false
        }
        for slot in 0..<maxBatch where running[slot] == nil {
            guard !waiting.isEmpty else { break }
            let j = waiting.removeFirst()
            if j.request.promptIds.isEmpty || j.request.promptIds.count >= model.config.contextLength {
                failed.append((j, .failed(j.request.promptIds.isEmpty ? "the prompt encodes to no tokens" : "the prompt fills the model's context (\(model.config.contextLength) tokens)")))
                continue
            }
            j.admitted = t
            running[slot] = j
            cache.reset(slot: slot)
            let ids = j.request.promptIds
            if let pc = prefixCache, ids.count > sharedPrefix.count, ids.starts(with: sharedPrefix) {
                cache.copyPrefix(from: pc, slot: 0, count: sharedPrefix.count, into: slot)
                pending[slot] = Array(ids[sharedPrefix.count...])
            } else {
                pending[slot] = ids
            }
        }
        for (slot, j) in running where j.cancelled || t > j.deadline {
            failed.append((j, j.cancelled ? .cancelled : .deadlineExceeded))
            running[slot] = nil
            pending[slot] = nil
            cache.reset(slot: slot)
        }
        let order = running.keys.sorted()
        let jobs = order.compactMap { running[$0] }
        let inputs = order.map { pending[$0] ?? [] }
        observer?.queueChanged(waiting: waiting.count, running: running.count)
        lock.unlock()
        for (j, e) in failed { j.finish(.failure(e)) }
        if order.isEmpty { return true }

        // One forward pass for every running sequence (outside the lock: submissions go on meanwhile).
        observer?.batchStep(size: order.count)
        let logits: Tensor
        do {
            logits = try model.forward(ForwardBatch(zip(order, inputs).map { ForwardBatch.Sequence(slot: $0.0, tokens: $0.1) }), cache: cache, logits: .last)
        } catch {
            lock.lock()
            for slot in order { running[slot] = nil; pending[slot] = nil; cache.reset(slot: slot) }
            lock.unlock()
            for j in jobs { j.finish(.failure(.failed("the model failed: \(error)"))) }
            return true
        }
        var done: [(Job, EngineOutput)] = []
        var next: [Int: [Int]] = [:]
        let stepTime = now()
        for (row, slot) in order.enumerated() {
            let j = jobs[row]
            let row = logits.row(row)
            let tok = j.sampler.sample(row, history: j.request.sampling.repetitionPenalty != 1 ? j.request.promptIds + j.out : [])
            if j.firstToken == nil { j.firstToken = stepTime }
            var reason: GenerationResult.FinishReason?
            if j.request.stopTokenIds.contains(tok) {
                reason = .stopToken
            } else {
                j.out.append(tok)
                j.logprobs.append(Self.logprob(row, tok))
                let limit = min(j.request.maxTokens, model.config.contextLength - j.request.promptIds.count)
                if j.out.count >= limit { reason = .length }
                else if !j.request.stopStrings.isEmpty, Generator.stopStringCut(tokenizer.decode(j.out, skipSpecial: true), j.request.stopStrings) != nil {
                    reason = .stopString
                }
            }
            if let reason {
                var text = tokenizer.decode(j.out, skipSpecial: true)
                if reason == .stopString, let cut = Generator.stopStringCut(text, j.request.stopStrings) { text = String(text[..<cut]) }
                let admitted = j.admitted ?? j.submitted
                let r = GenerationResult(promptIds: j.request.promptIds, outputIds: j.out, text: text, finishReason: reason,
                                         prefillSeconds: (j.firstToken ?? stepTime) - admitted, decodeSeconds: stepTime - (j.firstToken ?? stepTime))
                done.append((j, EngineOutput(result: r, tokenLogprobs: j.logprobs, queueSeconds: admitted - j.submitted,
                                             timeToFirstToken: (j.firstToken ?? stepTime) - j.submitted)))
            } else {
                next[slot] = [tok]
            }
        }
        lock.lock()
        for (slot, j) in zip(order, jobs) {
            if let n = next[slot], running[slot] === j { pending[slot] = n }
            else if running[slot] === j { running[slot] = nil; pending[slot] = nil; cache.reset(slot: slot) }
        }
        lock.broadcast()
        lock.unlock()
        for (j, o) in done {
            observer?.finished(tokens: o.result.outputIds.count, timeToFirstToken: o.timeToFirstToken)
            j.finish(.success(o))
        }
        return true
    }

    /// log softmax(logits)[token], computed stably.
    static func logprob(_ logits: [Float], _ token: Int) -> Double {
        guard logits.indices.contains(token) else { return -.infinity }
        var m = -Double.infinity
        for x in logits where Double(x) > m { m = Double(x) }
        var s = 0.0
        for x in logits { s += exp(Double(x) - m) }
        return Double(logits[token]) - m - log(s)
    }

    deinit {
        lock.lock(); stopping = true; lock.broadcast(); lock.unlock()
    }
}

// The inference engine behind the server: one worker thread owns the model and steps the project's
// decode scheduler (`DecodeScheduler`, the one `Generator` uses too) over requests that arrive at any
// time; a finished, cancelled or late request frees its slot for the next in the queue. The engine
// itself keeps only the queue, the deadlines, cancellation and the thread.
//
// Admission is bounded (`maxQueue` waiting): a full queue is refused at once (the server answers 429),
// so overload never grows memory or latency without limit. Admission is also deadline-aware: from the
// service times it has measured (`ServiceEstimate`), the engine refuses at once a request that would
// wait and run longer than its deadline, instead of giving it a batch slot it would hold only to be
// answered 504 — under a tight REQUEST_TIMEOUT the slots go to requests that can finish. Each request
// carries a deadline and a cancellation flag (client gone); both are checked every step. `confidence` is the model's own
// probability of the answer it gave: the product of the softmax probabilities (raw logits) of its
// tokens and of the token that ended it (before temperature or truncation).
import Foundation
import Generation
import Models
import TensorCore
import Tokenization

public enum EngineError: Error, Equatable, CustomStringConvertible {
    case queueFull(depth: Int)
    /// Refused at admission: the expected wait plus service time (seconds) is over the request's deadline.
    case wouldMissDeadline(expectedSeconds: Double, retryAfter: Double)
    case deadlineExceeded
    case cancelled
    case shuttingDown
    case failed(String)

    public var description: String {
        switch self {
        case .queueFull(let d): return "the queue is full (\(d) waiting)"
        case .wouldMissDeadline(let e, _): return String(format: "the request would take about %.1f s, over its deadline", e)
        case .deadlineExceeded: return "the request took longer than its deadline"
        case .cancelled: return "the request was cancelled"
        case .shuttingDown: return "the server is shutting down"
        case .failed(let m): return m
        }
    }
}

/// A finished generation with what the server reports about it.
public struct EngineOutput: Sendable {
    public var decode: DecodeOutput
    public var queueSeconds: Double
    public var timeToFirstToken: Double
    public var result: GenerationResult { decode.result }
    public var tokenLogprobs: [Double] { decode.tokenLogprobs }
    /// The model's probability of the answer it gave, its end included (so an empty answer is not certain).
    public var confidence: Double { decode.confidence }
}

/// What the engine has measured of the requests it finished, to predict a new one's wait and service
/// time. Exponentially weighted (recent load counts most), each request weighing `weight`.
struct ServiceEstimate: Sendable {
    /// Seconds from admission into a slot to the last token (mean and variance); generated tokens; per
    /// finished request.
    var serviceSeconds: Double = 0
    var serviceVariance: Double = 0
    var tokens: Double = 0
    var samples = 0
    let weight = 0.2
    /// Below this many finished requests nothing is predicted (and nothing refused for its deadline).
    static let warmup = 3
    /// A request is expected to take its mean service time plus this many standard deviations: admitting
    /// on the mean alone lets about half of the requests near the deadline run past it (measured: 41 % of
    /// those admitted under a 2 s REQUEST_TIMEOUT at 64 clients were answered 504).
    static let margin = 2.0

    mutating func record(serviceSeconds s: Double, tokens n: Int) {
        guard s.isFinite, s >= 0 else { return }
        if samples == 0 {
            serviceSeconds = s
            tokens = Double(max(1, n))
        } else {
            // Exponentially weighted mean and variance (West/Finch's incremental form).
            let d = s - serviceSeconds, step = weight * d
            serviceSeconds += step
            serviceVariance = (1 - weight) * (serviceVariance + d * step)
            tokens += weight * (Double(max(1, n)) - tokens)
        }
        samples += 1
    }

    /// Seconds a request allowed `maxTokens` would spend in its slot: the measured mean plus `margin`
    /// standard deviations, scaled down when it may generate fewer tokens than the measured requests did
    /// (never up: the mean already includes the prefill, and a request usually stops before its budget).
    /// `deviations` 0 gives the mean alone: what a request already queued is expected to need (dropping one
    /// only when even the mean cannot make it keeps the requests that would most likely have finished).
    func service(maxTokens: Int, deviations: Double = margin) -> Double? {
        guard samples >= Self.warmup, tokens > 0 else { return nil }
        return (serviceSeconds + deviations * serviceVariance.squareRoot()) * min(1, Double(maxTokens) / tokens)
    }
}

/// What `drain` did: requests completed while draining, and those it could not finish by the limit
/// (they were answered 503).
public struct DrainReport: Sendable, Equatable {
    public var completed: Int
    public var unfinished: Int
}

/// What the engine reports to metrics as it runs.
public protocol EngineObserver: AnyObject, Sendable {
    func batchStep(size: Int)
    func queueChanged(waiting: Int, running: Int)
    func finished(tokens: Int, timeToFirstToken: Double)
    /// An admitted request missed its deadline (answered 504), and where.
    func deadlineMissed(_ stage: DeadlineStage)
}

/// Where an admitted request was when its deadline ended it. Queued and dropped: its wait was longer than
/// admission expected; running: its service time was.
public enum DeadlineStage: String, Sendable, CaseIterable {
    /// Still waiting for a batch slot when the deadline passed.
    case queued
    /// Given up at the slot: even its mean service time would have run past the deadline.
    case dropped
    /// Cut while generating.
    case running
}

public final class InferenceEngine: @unchecked Sendable {
    public let maxBatch: Int
    public let maxQueue: Int
    let model: any CausalLM
    let tokenizer: Tokenizer
    weak var observer: EngineObserver?

    final class Job: @unchecked Sendable {
        let id: Int
        let request: GenerationRequest
        let deadline: Double
        let submitted = now()
        var cancelled = false          // guarded by the engine's lock
        var admittedAt = 0.0           // when it got a slot (guarded by the engine's lock)
        let onFinish: (Result<EngineOutput, EngineError>) -> Void
        let once = NSLock()
        var finished = false
        init(id: Int, _ r: GenerationRequest, deadline: Double, finish: @escaping (Result<EngineOutput, EngineError>) -> Void) {
            self.id = id
            request = r
            self.deadline = deadline
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
    var running: [Int: Job] = [:]    // job id → job, in the scheduler
    var nextID = 0
    var stopping = false
    /// Tests hold the worker to fill the queue deterministically.
    var held = false
    /// Measured service times (guarded by the lock); see `ServiceEstimate`.
    var estimate = ServiceEstimate()
    /// Requests generated to the end (guarded by the lock): what a drain completed is the difference.
    var completions = 0
    var worker: Thread?
    /// Touched by the worker thread only (and by `setSharedPrefix` under the lock, before serving).
    let scheduler: DecodeScheduler

    public init(model: any CausalLM, tokenizer: Tokenizer, maxBatch: Int, maxQueue: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.maxBatch = max(1, maxBatch)
        self.maxQueue = max(0, maxQueue)
        scheduler = DecodeScheduler(model: model, tokenizer: tokenizer, slots: self.maxBatch)
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

    /// Precomputes the keys and values of `ids`, the prefix every prompt of the server starts with (the
    /// chat template's opening tokens), so a request prefills only its own tokens. Call before serving.
    public func setSharedPrefix(_ ids: [Int]) throws {
        guard ids.count >= 4, ids.count < model.config.contextLength / 2 else { return }
        lock.lock(); defer { lock.unlock() }
        try scheduler.setSharedPrefix(ids)
    }

    /// The prefix whose keys and values every matching prompt copies (empty when none is set).
    var sharedPrefix: [Int] { lock.lock(); defer { lock.unlock() }; return scheduler.prefix }

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

    /// Seconds until a slot frees for a request that finds `ahead` requests waiting (call under the lock).
    /// From the running requests' own progress, not from a rate: requests admitted together finish
    /// together (continuous batching of similar questions forms cohorts), so the next slot frees when the
    /// most advanced running request is expected to end, and each further `maxBatch` requests ahead add a
    /// whole service time.
    func expectedWait(ahead k: Int) -> Double? {
        guard estimate.samples >= ServiceEstimate.warmup else { return nil }
        let mean = estimate.serviceSeconds, free = maxBatch - running.count
        if k < free { return 0 }
        let t = now()
        let remaining = running.values.map { max(0, mean - (t - $0.admittedAt)) }.sorted()
        let index = k - max(0, free), round = index / maxBatch, position = index % maxBatch
        guard position < remaining.count else { return mean * Double(round + 1) }
        return remaining[position] + mean * Double(round)
    }

    /// The refusal a request would get now whatever it asks (the engine is stopping, the queue is full, or
    /// the wait alone plus the shortest measured service is over `timeout`), checked before its body is
    /// read or its prompt built: under overload a refusal must cost next to nothing, or answering them
    /// takes the CPU the batch needs. nil: it may be admitted (`generate` decides).
    public func refusal(timeout: Double) -> EngineError? {
        lock.lock(); defer { lock.unlock() }
        return admission(maxTokens: 1, timeout: timeout)
    }

    /// Why a request of up to `maxTokens` tokens would be refused now, or nil (call under the lock):
    /// the engine is stopping; the batch's slots and the queue are full (what is beyond both is refused,
    /// not queued); or it would wait and run past its deadline, where, queued, it would take a slot from
    /// one that can finish and still be answered 504. Never the last when idle: the estimate learns only
    /// from requests that run, so an idle server always takes one (a stale estimate cannot lock it).
    func admission(maxTokens: Int, timeout: Double) -> EngineError? {
        if stopping { return .shuttingDown }
        let queued = waiting.count + running.count
        if queued >= maxBatch + maxQueue { return .queueFull(depth: waiting.count) }
        guard queued > 0, let wait = expectedWait(ahead: waiting.count),
              let service = estimate.service(maxTokens: maxTokens), wait + service > timeout else { return nil }
        return .wouldMissDeadline(expectedSeconds: wait + service, retryAfter: max(wait, service))
    }

    /// Generates for `request`; throws `EngineError` when the queue is full, the deadline passes, the
    /// calling task is cancelled (the client went away) or the engine is stopping.
    public func generate(_ request: GenerationRequest, timeout: Double) async throws -> EngineOutput {
        let box = CancelBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<EngineOutput, Error>) in
                var request = request
                request.logprobs = true
                lock.lock()
                let job = Job(id: nextID, request, deadline: now() + max(0, timeout)) { result in
                    switch result {
                    case .success(let o): c.resume(returning: o)
                    case .failure(let e): c.resume(throwing: e)
                    }
                }
                nextID &+= 1
                if let refused = admission(maxTokens: request.maxTokens, timeout: timeout) {
                    lock.unlock()
                    c.resume(throwing: refused)
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
    /// ones still waiting or running then are failed with `.shuttingDown` (the server answers them 503).
    @discardableResult
    public func drain(timeout: Double) -> DrainReport {
        lock.lock()
        stopping = true
        let completedBefore = completions
        let end = now() + timeout
        while !(waiting.isEmpty && running.isEmpty) && now() < end {
            lock.signal()
            _ = lock.wait(until: Date(timeIntervalSinceNow: min(0.05, max(0, end - now()))))
        }
        let completed = completions - completedBefore
        let left = waiting + Array(running.values)
        waiting.removeAll()
        running.removeAll()
        lock.signal()
        lock.unlock()
        observer?.queueChanged(waiting: 0, running: 0)
        for j in left { j.finish(.failure(.shuttingDown)) }
        return DrainReport(completed: completed, unfinished: left.count)
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
        var failed: [(Job, EngineError)] = [], missed: [DeadlineStage] = []
        let t = now()
        func late(_ j: Job) -> EngineError? { j.cancelled ? .cancelled : t > j.deadline ? .deadlineExceeded : nil }
        waiting.removeAll { j in
            guard let e = late(j) else { return false }
            failed.append((j, e))
            if e == .deadlineExceeded { missed.append(.queued) }
            return true
        }
        for (id, j) in running {
            guard let e = late(j) else { continue }
            // A request cut at its deadline took at least this long: counting it keeps the estimate from
            // learning only from the requests fast enough to finish (which would make it admit too many).
            if e == .deadlineExceeded {
                estimate.record(serviceSeconds: t - j.admittedAt, tokens: Int(estimate.tokens.rounded()))
                missed.append(.running)
            }
            failed.append((j, e))
            running[id] = nil
            scheduler.cancel(id)
        }
        while scheduler.freeSlots > 0, !waiting.isEmpty {
            let j = waiting.removeFirst()
            // One that can no longer finish in time gives its slot to the next (it would be answered 504 anyway)
            // — while others run, so that the estimate keeps learning.
            if !running.isEmpty, let service = estimate.service(maxTokens: j.request.maxTokens, deviations: 0), t + service > j.deadline {
                failed.append((j, .deadlineExceeded))
                missed.append(.dropped)
                continue
            }
            do {
                try scheduler.admit(j.id, j.request)
                j.admittedAt = t
                running[j.id] = j
            } catch {
                failed.append((j, .failed("\(error)")))
            }
        }
        let size = running.count
        observer?.queueChanged(waiting: waiting.count, running: size)
        lock.unlock()
        for stage in missed { observer?.deadlineMissed(stage) }
        for (j, e) in failed { j.finish(.failure(e)) }
        if size == 0 { return true }

        // One forward pass for every running sequence (outside the lock: submissions go on meanwhile).
        observer?.batchStep(size: size)
        let events: [DecodeScheduler.Event]
        do {
            events = try scheduler.step()
        } catch {
            lock.lock()
            let jobs = Array(running.values)
            running.removeAll()
            scheduler.cancelAll()
            lock.unlock()
            for j in jobs { j.finish(.failure(.failed("the model failed: \(error)"))) }
            return true
        }
        var done: [(Job, EngineOutput)] = []
        lock.lock()
        let finishedAt = now()
        for case .finished(let id, let o) in events {
            // A drain may have failed the job meanwhile; it is then no longer in `running`.
            guard let j = running.removeValue(forKey: id) else { continue }
            estimate.record(serviceSeconds: finishedAt - o.admitted, tokens: o.result.outputIds.count)
            completions += 1
            done.append((j, EngineOutput(decode: o, queueSeconds: o.admitted - j.submitted, timeToFirstToken: o.firstToken - j.submitted)))
        }
        // The gauges follow the batch down as well as up (an idle server shows 0 running).
        if !done.isEmpty { observer?.queueChanged(waiting: waiting.count, running: running.count) }
        lock.broadcast()
        lock.unlock()
        for (j, o) in done {
            observer?.finished(tokens: o.result.outputIds.count, timeToFirstToken: o.timeToFirstToken)
            j.finish(.success(o))
        }
        return true
    }

    deinit {
        lock.lock(); stopping = true; lock.broadcast(); lock.unlock()
    }
}

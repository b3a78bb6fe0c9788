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

/// What the engine has measured, to predict a new request's wait for a slot and its time in it.
///
/// Counted in batch steps, then priced in seconds. A request holds its slot for about as many steps as
/// those before it (one per generated token, plus the one that samples the stop token), and each forward
/// pass advances every running request one step, so a running request's remaining steps follow from its
/// own progress. A step's price is fitted to the measured steps as seconds = α + β · tokens fed (a decode
/// token per running request, a whole prompt for each new one). A request's steps are priced in a batch
/// that turns over as it runs: B decode tokens a step, plus B prompts of P tokens every S steps.
/// Predictions are then stretched by how far they have run over (`Calibration`), measured on every request.
///
/// Why this model (measured under a 2 s REQUEST_TIMEOUT at 64 clients, most 504s being requests given up at
/// their slot): a remaining time priced as "mean service time minus time so far" called every request past
/// the mean about to free its slot; a price measured per request at a small batch admitted a whole queue at
/// a quarter of the full batch's price when the load arrived; and a step that prefills a cohort of new
/// requests costs several decode steps, so waits for a whole cohort ran 6–13 % over. Under clients that
/// retry at once the queue fills exactly to the deadline, so these few per cent decide between an answer
/// and a 504.
struct ServiceEstimate: Sendable {
    /// seconds ≈ α + β · tokens of one forward pass, exponentially weighted (recent steps count most).
    var step = LinearFit(weight: 0.02)
    /// Steps a request holds its slot, and prompt tokens it prefills (mean), over requests.
    var held = Moments(mean: 0)
    var prefill: Double = 0
    var samples = 0
    let weight = 0.2
    /// How far the predictions ran over: actual / predicted, for the waits and for the times in the slot.
    var wait = Calibration(), service = Calibration()
    /// Below this many measured requests nothing is predicted (and nothing refused for its deadline).
    static let warmup = 3
    /// Admission stretches its predictions by the mean overrun plus this many standard deviations: admitting
    /// on the mean alone lets about half of the requests near the deadline run past it.
    static let margin = 2.0

    var ready: Bool { samples >= Self.warmup && held.mean > 0 && step.ready }

    /// A forward pass over `tokens` tokens took `seconds`.
    mutating func record(step seconds: Double, tokens: Int) {
        guard seconds.isFinite, seconds >= 0, tokens > 0 else { return }
        step.add(x: Double(tokens), y: seconds)
    }

    /// A request held its slot for `n` steps after prefilling `prefilled` tokens. `finished` false: it was cut
    /// (its deadline), so its steps are only a lower bound of what it needed.
    mutating func record(steps n: Int, prefilled: Int, finished: Bool = true) {
        guard n > 0 else { return }
        // The first request sets the means; later ones move them by their weight. A cut request needed at least
        // its steps: it can raise the mean, never lower it (and one long request cut late moves it by its
        // weight, not all the way).
        let w = samples == 0 ? 1 : weight
        held.add(finished ? Double(n) : max(Double(n), held.mean), weight: w)
        prefill += w * (Double(max(0, prefilled)) - prefill)
        samples += 1
    }

    /// Steps a request allowed `maxTokens` tokens is expected to hold its slot: as many as measured, never more
    /// than its budget (the prefill step samples the first token, and a stop token takes a token's place).
    func steps(maxTokens: Int) -> Double { min(held.mean, Double(max(1, maxTokens))) }

    /// Steps a running request that has run `done` of them is expected still to need: the rest of the mean,
    /// or, once past it, a standard deviation more (not "one step": a request longer than most is likely
    /// longer still) — never more than its budget leaves, never less than one.
    func remainingSteps(done: Int, maxTokens: Int) -> Double {
        let expected = steps(maxTokens: maxTokens) - Double(done)
        let left = Double(max(1, maxTokens - done))
        return max(1, min(left, expected >= 1 ? expected : held.sd))
    }

    /// Seconds per step in a batch of `batch` requests that turns over as it runs.
    func stepSeconds(batch: Int) -> Double {
        let b = Double(max(1, batch))
        return step.predict(b * (1 + prefill / max(1, held.mean)))
    }

    /// Seconds a wait of `n` steps is expected to take in a batch of `batch`; `deviations` as in `Calibration`.
    func waitSeconds(steps n: Double, batch: Int, deviations: Double = margin) -> Double {
        n * stepSeconds(batch: batch) * wait.factor(deviations: deviations)
    }

    /// Seconds a request allowed `maxTokens` tokens is expected to hold its slot in a batch of `batch`.
    func serviceSeconds(maxTokens: Int, batch: Int, deviations: Double = margin) -> Double {
        steps(maxTokens: maxTokens) * stepSeconds(batch: batch) * service.factor(deviations: deviations)
    }
}

/// An exponentially weighted least-squares line y ≈ α + β·x (West's incremental weighted means). With too
/// little spread in x to find a slope, the line goes through the origin (y ∝ x): a larger batch is then
/// priced proportionally, which errs towards refusing, not towards a 504.
struct LinearFit: Sendable {
    let weight: Double
    var n = 0
    var mx = 0.0, my = 0.0, cxx = 0.0, cxy = 0.0

    var ready: Bool { n > 0 && mx > 0 }

    mutating func add(x: Double, y: Double) {
        if n == 0 { mx = x; my = y } else {
            let dx = x - mx, dy = y - my
            mx += weight * dx
            my += weight * dy
            cxx = (1 - weight) * (cxx + weight * dx * dx)
            cxy = (1 - weight) * (cxy + weight * dx * dy)
        }
        n += 1
    }

    /// The fitted intercept and slope, both non-negative (a step never takes negative time, nor less for more tokens).
    var line: (alpha: Double, beta: Double) {
        // A slope needs a spread of sizes (some steps prefilling, some not); a few odd steps among identical
        // ones would let one outlier set it.
        guard cxx >= 0.01 * mx * mx else { return (0, my / mx) }
        let beta = cxy / cxx, alpha = my - beta * mx
        if beta < 0 { return (my, 0) }
        if alpha < 0 { return (0, beta) }   // the slope through the origin would under-price larger steps
        return (alpha, beta)
    }

    func predict(_ x: Double) -> Double {
        guard ready else { return 0 }
        let (a, b) = line
        return a + b * x
    }
}

/// An exponentially weighted mean and variance (West's incremental form), each new value weighing `weight`.
struct Moments: Sendable {
    var mean: Double
    var variance = 0.0
    var sd: Double { variance.squareRoot() }

    mutating func add(_ x: Double, weight: Double) {
        let d = x - mean, step = weight * d
        mean += step
        variance = (1 - weight) * (variance + d * step)
    }
}

/// How far predictions ran over: actual / predicted, as exponentially weighted moments starting from "exact".
struct Calibration: Sendable {
    var ratio = Moments(mean: 1)
    var samples = 0
    let weight = 0.05

    /// The most one measurement may say the predictions are off by, either way: one stall (a page fault
    /// storm, a paused VM) must not stretch the predictions for the next hundred requests.
    static let bound = 4.0

    /// `actual` seconds where `predicted` were expected (predicted at the mean, `deviations` 0). The first
    /// measurements are averaged plainly (weight 1/n) until the exponential weight takes over, so the stretch
    /// is learnt within the first cohort of queued requests, not twenty requests later.
    mutating func record(actual: Double, predicted: Double) {
        guard actual.isFinite, predicted.isFinite, actual >= 0, predicted > 0 else { return }
        let r = min(Self.bound, max(1 / Self.bound, actual / predicted))
        ratio.add(r, weight: max(weight, 1 / Double(samples + 1)))
        samples += 1
    }

    /// The stretch to apply: the mean ratio (`deviations` 0: the best guess, used to give up a request at
    /// its slot), or, to admit, the mean plus `deviations` standard deviations and never below 1 (the
    /// model is trusted to be optimistic, never to be pessimistic).
    func factor(deviations: Double) -> Double {
        deviations == 0 ? ratio.mean : max(1, ratio.mean + deviations * ratio.sd)
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
        var steps = 0                  // forward passes it has been in (guarded by the engine's lock)
        /// The wait for a slot predicted when it was queued, and the time in the slot predicted when it got
        /// one, by the step model alone (nil: none predicted); the prompt tokens it prefilled.
        var predictedWait: Double?
        var predictedService: Double?
        var prefilled = 0
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

    /// Steps until a slot frees for a request that finds `ahead` requests waiting (call under the lock).
    /// Each slot frees when its request has run its expected steps (now, for a free slot); the requests
    /// ahead take the slots in the order they free, each holding its slot for its own expected steps.
    func expectedWaitSteps(ahead k: Int) -> Double? {
        guard estimate.ready else { return nil }
        var frees = running.values.map { estimate.remainingSteps(done: $0.steps, maxTokens: $0.request.maxTokens) }
        frees += Array(repeating: 0, count: max(0, maxBatch - frees.count))
        frees.sort()
        for j in waiting.prefix(k) {
            // The earliest slot goes to the next request ahead, which gives it back its steps later.
            let slot = frees.removeFirst() + estimate.steps(maxTokens: j.request.maxTokens)
            frees.insert(slot, at: frees.firstIndex { $0 > slot } ?? frees.endIndex)
        }
        return frees.first
    }

    /// The refusal a request would get now whatever it asks (the engine is stopping, the queue is full, or
    /// the wait alone plus the shortest measured service is over `timeout`), checked before its body is
    /// read or its prompt built: under overload a refusal must cost next to nothing, or answering them
    /// takes the CPU the batch needs. nil: it may be admitted (`generate` decides).
    public func refusal(timeout: Double) -> EngineError? {
        lock.lock(); defer { lock.unlock() }
        if case .refuse(let e) = admission(maxTokens: 1, timeout: timeout) { return e }
        return nil
    }

    /// What admission decides for a request: refuse it, or queue it, with the wait it is expected to have
    /// at the mean step price (nil when none is predicted: before measurements, or a slot is free now).
    enum Admission { case refuse(EngineError), queue(predictedWait: Double?) }

    /// The batch a request arriving now (or taking its slot now) runs in (call under the lock).
    var arrivalBatch: Int { min(maxBatch, waiting.count + running.count + 1) }

    /// Whether a request of up to `maxTokens` tokens is refused now (call under the lock): the engine is
    /// stopping; the batch's slots and the queue are full (what is beyond both is refused, not queued); or it
    /// would wait and run past its deadline, where, queued, it would take a slot from one that can finish and
    /// still be answered 504. Never the last when idle: the estimate learns only from requests that run, so an
    /// idle server always takes one (a stale estimate cannot lock it).
    func admission(maxTokens: Int, timeout: Double) -> Admission {
        if stopping { return .refuse(.shuttingDown) }
        let queued = waiting.count + running.count
        if queued >= maxBatch + maxQueue { return .refuse(.queueFull(depth: waiting.count)) }
        guard queued > 0, let waitSteps = expectedWaitSteps(ahead: waiting.count) else { return .queue(predictedWait: nil) }
        let batch = arrivalBatch
        let wait = estimate.waitSeconds(steps: waitSteps, batch: batch)
        let service = estimate.serviceSeconds(maxTokens: maxTokens, batch: batch)
        if wait + service > timeout { return .refuse(.wouldMissDeadline(expectedSeconds: wait + service, retryAfter: max(wait, service))) }
        // A wait for a free slot is the worker's timing, not the model's: not predicted (nor learnt from).
        return .queue(predictedWait: waitSteps >= 1 ? waitSteps * estimate.stepSeconds(batch: batch) : nil)
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
                let predictedWait: Double?
                switch admission(maxTokens: request.maxTokens, timeout: timeout) {
                case .refuse(let refused):
                    lock.unlock()
                    c.resume(throwing: refused)
                    return
                case .queue(let wait): predictedWait = wait
                }
                if box.cancelled { lock.unlock(); c.resume(throwing: EngineError.cancelled); return }
                // Kept to learn how far off such predictions run.
                job.predictedWait = predictedWait
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
            if e == .deadlineExceeded {
                missed.append(.queued)
                // It waited at least this long: counting it keeps the ratio from learning only from the waits short enough.
                if let p = j.predictedWait { estimate.wait.record(actual: t - j.submitted, predicted: p) }
            }
            return true
        }
        for (id, j) in running {
            guard let e = late(j) else { continue }
            // A request cut at its deadline took at least this long: counting it keeps the estimate from
            // learning only from the requests fast enough to finish (which would make it admit too many).
            if e == .deadlineExceeded {
                estimate.record(steps: j.steps, prefilled: j.prefilled, finished: false)
                if let p = j.predictedService { estimate.service.record(actual: t - j.admittedAt, predicted: p) }
                missed.append(.running)
            }
            failed.append((j, e))
            running[id] = nil
            scheduler.cancel(id)
        }
        while scheduler.freeSlots > 0, !waiting.isEmpty {
            let j = waiting.removeFirst()
            if let p = j.predictedWait { estimate.wait.record(actual: t - j.submitted, predicted: p) }
            let batch = arrivalBatch
            // One that can no longer finish in time gives its slot to the next (it would be answered 504 anyway)
            // — while others run, so that the estimate keeps learning.
            if !running.isEmpty, estimate.ready,
               t + estimate.serviceSeconds(maxTokens: j.request.maxTokens, batch: batch, deviations: 0) > j.deadline {
                failed.append((j, .deadlineExceeded))
                missed.append(.dropped)
                continue
            }
            do {
                j.prefilled = try scheduler.admit(j.id, j.request)
                j.admittedAt = t
                if estimate.ready {
                    j.predictedService = estimate.steps(maxTokens: j.request.maxTokens) * estimate.stepSeconds(batch: batch)
                }
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
        let tokens = scheduler.pendingTokens, started = now()
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
        let finishedAt = now()   // before the lock: waiting for it is not the step's time
        lock.lock()
        estimate.record(step: finishedAt - started, tokens: tokens)
        for j in running.values { j.steps += 1 }
        for case .finished(let id, let o) in events {
            // A drain may have failed the job meanwhile; it is then no longer in `running`.
            guard let j = running.removeValue(forKey: id) else { continue }
            estimate.record(steps: j.steps, prefilled: j.prefilled)
            if let p = j.predictedService { estimate.service.record(actual: finishedAt - o.admitted, predicted: p) }
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

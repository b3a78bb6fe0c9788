// The admission model of the engine (`ServiceEstimate`, `LinearFit`, `Calibration`): how a queued request's
// wait and its time in the slot are predicted, counted in batch steps and priced from measured steps.
// The engine's behaviour under these predictions (refusals, Retry-After, gauges) is in ServingTests.
import Foundation
@testable import Serving
import XCTest

final class AdmissionTests: XCTestCase {
    /// The wait is counted in steps from each running request's own progress (one past the usual length is
    /// about to finish, not already gone), the queue takes the slots in the order they free, each request
    /// ahead for its own steps; waits are priced at the measured step price, stretched by how far predicted
    /// waits have run over.
    func testExpectedWaitInSteps() throws {
        let (s, _) = try ServingTests.service { c in c.maxBatchSize = 2; c.maxQueue = 8 }
        let engine = s.engine
        engine.hold(true)
        defer { engine.lock.withLock { engine.running.removeAll(); engine.waiting.removeAll() }; engine.hold(false) }
        func job(_ id: Int, steps: Int, maxTokens: Int = 20) -> InferenceEngine.Job {
            let j = InferenceEngine.Job(id: id, GenerationRequestFactory.make(Array(1...5), maxTokens: maxTokens), deadline: .infinity) { _ in }
            j.steps = steps
            return j
        }
        engine.lock.withLock {
            XCTAssertNil(engine.expectedWaitSteps(ahead: 0), "nothing is predicted before anything was measured")
            engine.estimate = .measured(seconds: 10, steps: 10)
            XCTAssertEqual(engine.expectedWaitSteps(ahead: 0), 0, "a free slot")
            // 7 steps left, and one past the usual 10 steps: a standard deviation more (none: every measured
            // request took 10), at least one.
            engine.running = [1: job(1, steps: 3), 2: job(2, steps: 12)]
            XCTAssertEqual(engine.expectedWaitSteps(ahead: 0), 1)
            // Job 3 takes the slot freeing after 1 step (and holds it 10), job 4 the one after 7 (2 steps: its budget).
            engine.waiting = [job(3, steps: 0), job(4, steps: 0, maxTokens: 2)]
            XCTAssertEqual(engine.expectedWaitSteps(ahead: 1), 7)
            XCTAssertEqual(engine.expectedWaitSteps(ahead: 2), 9)
            // Past the mean of requests that vary (10 ± 4 steps): 4 more, but never more than the budget leaves.
            engine.estimate.held.variance = 16
            XCTAssertEqual(engine.expectedWaitSteps(ahead: 0), 4)
            engine.running[2] = job(2, steps: 18)
            XCTAssertEqual(engine.expectedWaitSteps(ahead: 0), 2)
        }
        // Waits that ran 20 % over their prediction stretch the next ones by 20 % (once enough of them were
        // measured; they did not vary: no spread), and a spread widens the stretch beyond the mean.
        var e = ServiceEstimate.measured(seconds: 10, steps: 10)
        XCTAssertEqual(e.waitSeconds(steps: 5, batch: 1), 5, accuracy: 1e-12)
        for _ in 0..<400 { e.wait.record(actual: 1.2, predicted: 1) }
        XCTAssertEqual(e.waitSeconds(steps: 5, batch: 1), 6, accuracy: 1e-3)
        var spread = e
        spread.wait.record(actual: 2.0, predicted: 1)
        XCTAssertGreaterThan(spread.waitSeconds(steps: 5, batch: 1), 5 * (1.2 + 0.05 * 0.8) + 0.5)
        // One stall counts as at most 4 times the prediction: it moves the stretch by a weight's share of that.
        var stalled = e
        stalled.wait.record(actual: 100, predicted: 1)
        XCTAssertEqual(stalled.wait.ratio.mean, 1.2 + 0.05 * (4 - 1.2), accuracy: 1e-6)
        // Predictions that ran short never shrink admission's below the model's own; the best guess (used to
        // give up a request at its slot) follows them.
        var fast = ServiceEstimate.measured(seconds: 10, steps: 10)
        for _ in 0..<400 { fast.service.record(actual: 0.5, predicted: 1) }
        XCTAssertEqual(fast.serviceSeconds(maxTokens: 100, batch: 1), 10, accuracy: 1e-12)
        XCTAssertEqual(fast.serviceSeconds(maxTokens: 100, batch: 1, deviations: 0), 5, accuracy: 1e-6)
    }

    /// The step price is a line in the tokens a forward pass feeds, fitted to measured steps: steps measured at
    /// a small batch price a full batch higher (not at the small batch's price, which admitted a whole queue
    /// that could not finish), and a batch is priced as it turns over (its prompts' prefills included).
    func testStepPriceModel() {
        var fit = LinearFit(weight: 0.02)
        for i in 0..<400 { let x = Double(1 + i % 40); fit.add(x: x, y: 0.004 + 0.0025 * x) }   // exact line
        XCTAssertEqual(fit.line.alpha, 0.004, accuracy: 1e-9)
        XCTAssertEqual(fit.line.beta, 0.0025, accuracy: 1e-9)
        var flat = LinearFit(weight: 0.02)
        for _ in 0..<10 { flat.add(x: 4, y: 0.02) }
        XCTAssertEqual(flat.predict(16), 0.08, accuracy: 1e-12, "no spread to find a slope: proportional")
        var falling = LinearFit(weight: 0.02)
        for i in 0..<100 { let x = Double(1 + i % 8); falling.add(x: x, y: 0.1 - 0.01 * x) }
        XCTAssertEqual(falling.line.beta, 0, "more tokens never cost less")
        XCTAssertFalse(LinearFit(weight: 0.02).ready)
        // A negative intercept: the fitted slope through the origin, which prices larger steps above the line.
        var steep = LinearFit(weight: 0.02)
        for i in 0..<100 { let x = Double(2 + i % 7); steep.add(x: x, y: -0.002 + 0.003 * x) }
        XCTAssertEqual(steep.line.alpha, 0)
        XCTAssertGreaterThanOrEqual(steep.predict(40), -0.002 + 0.003 * 40)
        // Noisy steps: the same line as a weighted least-squares fit computed directly, each step weighing
        // w (1 − w)^age and the first (1 − w)^(n − 1).
        var rng = SystemRandomNumberGenerator()
        var noisy = LinearFit(weight: 0.02), xs: [Double] = [], ys: [Double] = []
        for _ in 0..<300 {
            let x = Double(Int.random(in: 1...60, using: &rng)), y = 0.003 + 0.002 * x + Double.random(in: -0.01...0.01, using: &rng)
            noisy.add(x: x, y: y); xs.append(x); ys.append(y)
        }
        let n = xs.count, ws = (0..<n).map { i in i == 0 ? pow(0.98, Double(n - 1)) : 0.02 * pow(0.98, Double(n - 1 - i)) }
        let mx = zip(ws, xs).map(*).reduce(0, +), my = zip(ws, ys).map(*).reduce(0, +)
        let sxx = (0..<n).map { ws[$0] * (xs[$0] - mx) * (xs[$0] - mx) }.reduce(0, +)
        let sxy = (0..<n).map { ws[$0] * (xs[$0] - mx) * (ys[$0] - my) }.reduce(0, +)
        XCTAssertEqual(noisy.line.beta, sxy / sxx, accuracy: 1e-9 * abs(sxy / sxx))
        XCTAssertEqual(noisy.line.alpha, my - sxy / sxx * mx, accuracy: 1e-9)
        // Requests of 18 steps prefilling 27 tokens, measured at a batch of 2: a full batch of 16 turns over
        // 16 prompts every 18 steps, so a step feeds 16 · (1 + 27/18) = 40 tokens.
        var e = ServiceEstimate()
        for i in 0..<60 { let x = i % 9 == 0 ? 29 : 2; e.record(step: 0.004 + 0.0025 * Double(x), tokens: x) }
        for _ in 0..<3 { e.record(steps: 18, prefilled: 27) }
        XCTAssertTrue(e.ready)
        XCTAssertEqual(e.stepSeconds(batch: 16), 0.004 + 0.0025 * 40, accuracy: 1e-9)
        XCTAssertGreaterThan(e.stepSeconds(batch: 16), 3 * e.stepSeconds(batch: 2))
        // A request cut at its deadline did not finish: its steps only raise the expectation, by their weight.
        e.record(steps: 5, prefilled: 27, finished: false)
        XCTAssertEqual(e.held.mean, 18)
        e.record(steps: 30, prefilled: 27, finished: false)
        XCTAssertEqual(e.held.mean, 18 + 0.2 * 12, accuracy: 1e-9)
    }
}

extension ServiceEstimate {
    /// An estimate that has measured enough requests alike: each held its slot `steps` steps in `seconds`,
    /// every step the same price whatever its size.
    static func measured(seconds: Double, steps: Int) -> ServiceEstimate {
        var e = ServiceEstimate()
        for x in [1, 2, 1, 2] { e.record(step: seconds / Double(steps), tokens: x) }
        for _ in 0..<warmup { e.record(steps: steps, prefilled: 0) }
        return e
    }
}

// Sampling stages, seeded reproducibility, stop handling and the reasoning split.
import Foundation
import Generation
import Models
import TestSupport
import Tokenization
import XCTest

final class GenerationTests: XCTestCase {
    let logits: [Float] = [2.0, 1.0, 0.5, -1.0, 3.0, 0.0]   // softmax ≈ [.21 .08 .05 .01 .58 .03]

    func draws(_ p: SamplingParameters, _ n: Int = 4000) -> [Int: Int] {
        var s = Sampler(p)
        var counts: [Int: Int] = [:]
        for _ in 0..<n { counts[s.sample(logits), default: 0] += 1 }
        return counts
    }

    func testGreedyAndTemperatureZero() {
        var s = Sampler(.greedy)
        XCTAssertEqual(s.sample(logits), 4)
        XCTAssertEqual(draws(SamplingParameters(temperature: 0, seed: 3)).keys.sorted(), [4])
    }

    func testTemperatureOneFollowsSoftmax() {
        let counts = draws(SamplingParameters(temperature: 1, seed: 1), 20000)
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        for (i, l) in logits.enumerated() {
            let expected = exp(Double(l)) / z
            XCTAssertEqual(Double(counts[i, default: 0]) / 20000, expected, accuracy: 0.015, "token \(i)")
        }
    }

    func testTopKTopPMinPRestrictTheCandidates() {
        XCTAssertEqual(Set(draws(SamplingParameters(temperature: 1, topK: 2, seed: 2)).keys), [4, 0])
        // Top two carry ≈ .79 of the mass: top_p 0.7 keeps exactly them.
        XCTAssertEqual(Set(draws(SamplingParameters(temperature: 1, topP: 0.7, seed: 2)).keys), [4, 0])
        XCTAssertEqual(Set(draws(SamplingParameters(temperature: 1, topP: 0.5, seed: 2)).keys), [4])
        // min_p 0.1: keep tokens with p ≥ 0.058 → ids 4, 0, 1.
        XCTAssertEqual(Set(draws(SamplingParameters(temperature: 1, minP: 0.1, seed: 2)).keys), [4, 0, 1])
    }

    func testSeedsReproduce() {
        let p = SamplingParameters(temperature: 1, seed: 42)
        var a = Sampler(p), b = Sampler(p), c = Sampler(SamplingParameters(temperature: 1, seed: 43))
        let sa = (0..<50).map { _ in a.sample(logits) }, sb = (0..<50).map { _ in b.sample(logits) }
        XCTAssertEqual(sa, sb)
        XCTAssertNotEqual(sa, (0..<50).map { _ in c.sample(logits) })
    }

    func testRepetitionPenalty() {
        var s = Sampler(SamplingParameters(repetitionPenalty: 2))
        XCTAssertEqual(s.sample(logits, history: [4]), 0)   // 3.0 / 2 = 1.5 < 2.0
        XCTAssertEqual(s.sample(logits, history: [1]), 4)
    }

    func testReasoningSplit() {
        let r = splitReasoning("<think>\nLet me count: s-t-r-a-w-b-e-r-r-y.\n</think>\n\nThere are 3 r's.")
        XCTAssertEqual(r.thinking, "Let me count: s-t-r-a-w-b-e-r-r-y.")
        XCTAssertEqual(r.answer, "There are 3 r's.")
        XCTAssertNil(splitReasoning("Just 3.").thinking)
        XCTAssertEqual(splitReasoning("<think>a</think>b</think>c").answer, "c")
    }

    func testStopTokensStopStringsAndLimits() throws {
        let m = try LoadedModel.load(path: TestPaths.fixtures + "/models/llama")
        let gen = Generator(model: m.model, tokenizer: m.tokenizer)
        let prompt = m.tokenizer.encode("How many r's")
        let free = try gen.generate(GenerationRequest(promptIds: prompt, maxTokens: 10))
        XCTAssertEqual(free.outputIds.count, 10)
        XCTAssertEqual(free.finishReason, .length)
        let stopAt = free.outputIds[3]
        let stopped = try gen.generate(GenerationRequest(promptIds: prompt, maxTokens: 10, stopTokenIds: [stopAt]))
        XCTAssertEqual(stopped.outputIds, Array(free.outputIds.prefix(while: { $0 != stopAt })))
        XCTAssertEqual(stopped.finishReason, .stopToken)
        // A stop string taken from the middle of the free-running text cuts the output just before it.
        XCTAssertGreaterThanOrEqual(free.text.count, 4, "the fixture model must produce some text for this check")
        let needle = String(free.text.dropFirst(free.text.count / 2).prefix(2))
        let cut = try gen.generate(GenerationRequest(promptIds: prompt, maxTokens: 10, stopStrings: [needle]))
        XCTAssertEqual(cut.finishReason, .stopString)
        XCTAssertFalse(cut.text.contains(needle))
        XCTAssertTrue(free.text.hasPrefix(cut.text))
        var streamed = ""
        let s = try gen.generate(GenerationRequest(promptIds: prompt, maxTokens: 10)) { streamed += $0 }
        XCTAssertEqual(streamed, s.text)
        XCTAssertThrowsError(try gen.generate(GenerationRequest(promptIds: [], maxTokens: 3)))
    }
}

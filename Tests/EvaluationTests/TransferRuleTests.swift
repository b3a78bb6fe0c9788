// The experiment's decision rule (Experiment/Analysis.swift's header), verdict by verdict, on
// contrasts built by hand: a rule that cannot say "transfer", "equivalent", "negative" and
// "inconclusive" on the data that call for each could not answer the question.
@testable import Experiment
import Records
import SpellingData
import XCTest

final class TransferRuleTests: XCTestCase {
    /// A test-split contrast with the given word-clustered and seed-level intervals (in accuracy).
    func contrast(_ measure: String, word975: [Double], word90: [Double], seed975: [Double]?, seed90: [Double]?, words: Int = 1000) -> ArmContrast {
        let seedLevel = seed975.map { s in
            SeedLevelTest(seeds: [3, 3], values: [[0.5, 0.5, 0.5], [0.4, 0.4, 0.4]], difference: (s[0] + s[1]) / 2, df: 4, p: 0.01,
                          ci95: s, ci90: seed90 ?? s, ci975: s)
        }
        return ArmContrast(measure: measure, split: "test", a: "spelling", b: "control", step: 3000, items: words, words: words,
                           difference: (word975[0] + word975[1]) / 2, ci95: word975, ci90: word90, ci975: word975, verdict: "", seedLevel: seedLevel)
    }

    func verdict(count: (ArmContrast, ArmContrast), position: (ArmContrast, ArmContrast)) -> TransferConclusion? {
        ExperimentAnalysis.transfer([(.count, count.0), (.count, count.1), (.position, position.0), (.position, position.1)],
                                    tasks: [.count, .count, .position, .position], sesoi: 0.04)
    }

    func testEachVerdictOnTheDataThatCallForIt() throws {
        let above = contrast("m", word975: [0.02, 0.08], word90: [0.03, 0.07], seed975: [0.01, 0.09], seed90: [0.02, 0.08])
        let aboveByWordsOnly = contrast("m", word975: [0.02, 0.08], word90: [0.03, 0.07], seed975: [-0.01, 0.11], seed90: [0.0, 0.1])
        let nothing = contrast("m", word975: [-0.025, 0.025], word90: [-0.02, 0.02], seed975: [-0.03, 0.03], seed90: [-0.025, 0.025])
        let nothingButWideSeeds = contrast("m", word975: [-0.025, 0.025], word90: [-0.02, 0.02], seed975: [-0.09, 0.09], seed90: [-0.05, 0.05])
        let below = contrast("m", word975: [-0.08, -0.02], word90: [-0.07, -0.03], seed975: [-0.09, -0.01], seed90: [-0.08, -0.02])
        let oneSeed = contrast("m", word975: [0.02, 0.08], word90: [0.03, 0.07], seed975: nil, seed90: nil)

        // Transfer on one task is transfer shown, whatever the other task does.
        var t = try XCTUnwrap(verdict(count: (above, above), position: (nothing, nothing)))
        XCTAssertEqual(t.tasks.map(\.verdict), ["transfer", "equivalent"])
        XCTAssertEqual(t.overall, "transfer shown")
        // Both measures must agree, and the seeds must too.
        t = try XCTUnwrap(verdict(count: (above, nothing), position: (nothing, nothing)))
        XCTAssertEqual(t.tasks.map(\.verdict), ["inconclusive", "equivalent"])
        XCTAssertEqual(t.overall, "inconclusive")
        t = try XCTUnwrap(verdict(count: (aboveByWordsOnly, aboveByWordsOnly), position: (nothing, nothing)))
        XCTAssertEqual(t.tasks[0].verdict, "inconclusive", "seed-level interval holds 0")
        // Equivalence needs every task, on words and on seeds.
        t = try XCTUnwrap(verdict(count: (nothing, nothing), position: (nothing, nothing)))
        XCTAssertEqual(t.overall, "no transfer beyond ±4 points")
        t = try XCTUnwrap(verdict(count: (nothing, nothing), position: (nothingButWideSeeds, nothing)))
        XCTAssertEqual(t.tasks.map(\.verdict), ["equivalent", "inconclusive"])
        XCTAssertEqual(t.overall, "inconclusive")
        // Spelling training that lowers a task is said so, and is no answer of equivalence.
        t = try XCTUnwrap(verdict(count: (below, below), position: (nothing, nothing)))
        XCTAssertEqual(t.tasks.map(\.verdict), ["negative", "equivalent"])
        XCTAssertEqual(t.overall, "inconclusive")
        // Where two verdicts apply, a difference shown but inside ±4 points is "equivalent": smaller than the least that matters.
        let smallBelow = contrast("m", word975: [-0.035, -0.005], word90: [-0.03, -0.01], seed975: [-0.038, -0.002], seed90: [-0.03, -0.01])
        let smallAbove = contrast("m", word975: [0.005, 0.035], word90: [0.01, 0.03], seed975: [0.002, 0.038], seed90: [0.01, 0.03])
        t = try XCTUnwrap(verdict(count: (smallBelow, smallBelow), position: (smallAbove, smallAbove)))
        XCTAssertEqual(t.tasks.map(\.verdict), ["equivalent", "equivalent"])
        XCTAssertEqual(t.overall, "no transfer beyond ±4 points")
        // One seed: no seed-level test, no verdict but inconclusive.
        t = try XCTUnwrap(verdict(count: (oneSeed, oneSeed), position: (oneSeed, oneSeed)))
        XCTAssertEqual(t.tasks.map(\.verdict), ["inconclusive", "inconclusive"])
        XCTAssertTrue(t.statement.contains("spelling − control on test after 3000 steps"), t.statement)
        // Not every measure there yet: no conclusion at all.
        XCTAssertNil(ExperimentAnalysis.transfer([(.count, above), (.count, above), (.position, nothing)], tasks: [.count, .position], sesoi: 0.04))
    }
}

// Compare and report figures on a four-word fixture, against values worked out independently
// (by hand and in plain Python: Wilson intervals, exact McNemar, phi, Pearson). No model runs.
import Evaluation
import Foundation
import Records
import XCTest

final class PinnedFiguresTests: XCTestCase {
    static let words = ["ab", "cd", "ef", "gh"]

    /// One run: per word, spelling and count correctness, and the spelling's character accuracy.
    func run(_ name: String, spelling: [Bool], count: [Bool], charAcc: [Double]) -> EvalRun {
        var items: [EvaluatedItem] = []
        for (i, w) in Self.words.enumerated() {
            var s = EvaluatedItem(id: "test-spelling-direct-\(i)", task: "spelling", style: "direct", mode: "non-thinking", sample: 0, prompt: "p",
                                  output: "o", gold: "g", parsed: spelling[i] ? w : (i == 3 ? nil : "x"), correct: spelling[i], truncated: false,
                                  word: w, metadata: QuestionFacts(word: w, wordLength: 2))
            s.spelling = SpellingScores(characterAccuracy: charAcc[i], levenshtein: 1 - charAcc[i], bleu1: charAcc[i], bleu2: 0, bleu3: 0, bleu4: 0,
                                        rougeLPrecision: charAcc[i])
            items.append(s)
            items.append(EvaluatedItem(id: "test-count-direct-\(i)", task: "count", style: "direct", mode: "non-thinking", sample: 0, prompt: "p",
                                       output: "1", gold: "1", parsed: "1", correct: count[i], truncated: i == 0, word: w,
                                       metadata: QuestionFacts(word: w, wordLength: 2)))
        }
        let summary = EvaluationSummary(model: "m", adapter: nil, data: "d", split: "test", questions: items.count, generations: items.count,
                                        questionsPerSecond: 1, tokensPerSecond: 1, seconds: 1, batchSize: 1,
                                        metrics: Aggregation.metrics(items), stratified: Aggregation.stratified(items))
        return EvalRun(dir: name, summary: summary, items: items)
    }

    lazy var base = run("base", spelling: [true, false, false, false], count: [true, true, false, false], charAcc: [1, 0.5, 0.25, 0])
    lazy var ft = run("ft", spelling: [true, true, true, false], count: [true, true, true, false], charAcc: [1, 1, 1, 0.5])

    func testGroupMetricsAndPairedTests() throws {
        let c = try Compare.run(base: base, finetuned: ft, trainingRun: nil)
        let count = try XCTUnwrap(c.groups["count/direct/non-thinking"])
        XCTAssertEqual(count.base.accuracy, 0.5)
        XCTAssertEqual(count.base.accuracyCI95[0], 0.15003898915214947, accuracy: 1e-12)
        XCTAssertEqual(count.base.accuracyCI95[1], 0.8499610108478506, accuracy: 1e-12)
        XCTAssertEqual(count.finetuned.accuracy, 0.75)
        XCTAssertEqual(count.finetuned.accuracyCI95[0], 0.30064184258240184, accuracy: 1e-12)
        XCTAssertEqual(count.base.truncated, 1)
        XCTAssertEqual(count.accuracyChange, 0.25)
        XCTAssertEqual(count.relativeImprovementPercent, 50)
        // Discordant pairs: only word 3 changed (wrong → right), so p = 2 · P(X ≤ 0 | n = 1) = 1.
        XCTAssertEqual(count.mcnemarBaseOnlyCorrect, 0)
        XCTAssertEqual(count.mcnemarFinetunedOnlyCorrect, 1)
        XCTAssertEqual(count.mcnemarP, 1)
        let spelling = try XCTUnwrap(c.groups["spelling/direct/non-thinking"])
        XCTAssertEqual(spelling.mcnemarFinetunedOnlyCorrect, 2)
        XCTAssertEqual(spelling.mcnemarP, 0.5, accuracy: 1e-15)   // 2 · 0.5²
        XCTAssertEqual(spelling.base.unparseable, 1)
        XCTAssertEqual(try XCTUnwrap(spelling.base.spelling[.characterAccuracy]).value, 0.4375)
        XCTAssertEqual(try XCTUnwrap(spelling.levenshteinChange), 0.125 - 0.5625, accuracy: 1e-15)

        // Transfer: base spelling [T F F F] vs count [T T F F] gives n11 = 1, n01 = 1, n00 = 2: phi = 2/√12.
        let t = try XCTUnwrap(c.transfer["direct/non-thinking"])
        XCTAssertEqual(try XCTUnwrap(t.base["count"]?.phi), 0.5773502691896258, accuracy: 1e-12)
        XCTAssertEqual(t.finetuned["count"]?.phi, 1)
        XCTAssertEqual(t.base["count"]?.words, 4)
        // The spelling gain (+50 points, p = 0.5) is not significant, so efficiency is undefined and says why.
        XCTAssertNil(t.efficiency["count"]?.value)
        XCTAssertEqual(t.efficiency["count"]?.note, "undefined: spelling accuracy changed by +50.0 points (McNemar p = 0.5), not a significant gain")
    }

    func testHeadlineCriteriaAndReportText() throws {
        let hb = Report.headline(base), hf = Report.headline(ft)
        XCTAssertEqual(hb.accuracy["letter_count"], Proportion(n: 4, correct: 2, accuracy: 0.5, ci95: [0.15003898915214947, 0.8499610108478506]))
        XCTAssertEqual(hf.accuracy["spelling"]?.accuracy, 0.75)
        XCTAssertEqual(hb.characterLevelAccuracy, 0.4375)
        XCTAssertEqual(hf.characterLevelAccuracy, 0.875)
        XCTAssertEqual(hb.unparseableRate, 1.0 / 8)
        XCTAssertEqual(hb.value(named: "rouge_l_precision"), 0.4375)

        let c = try Compare.run(base: base, finetuned: ft, trainingRun: nil)
        let k = Report.criteria(hb, hf, groups: c.groups)
        XCTAssertEqual(k["count"], TaskCriterion(improved: true, improvementSignificant: false, mcnemarP: 1, accuracyChange: 0.25))
        XCTAssertEqual(k["spelling"]?.mcnemarP ?? 0, 0.5, accuracy: 1e-15)
        XCTAssertNil(k["position"])

        let out = FileManager.default.temporaryDirectory.appendingPathComponent("pinned-\(getpid())").path
        let lines = try Report.write(base: base, finetuned: ft, comparison: c, trainingRun: nil, to: out)
        XCTAssertEqual(lines[1], "letter count     base 50.0% → fine-tuned 75.0%  (McNemar p = 1)")
        XCTAssertEqual(lines.last, "conclusion: spelling improved, not significantly; count improved, not significantly; position: not evaluated")
        let md = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| count/direct/non-thinking | 4 | 50.0% [15, 85] | 75.0% [30, 95] | +25.0 pts | 1 |"), md)
        XCTAssertTrue(md.contains("| spelling ↔ count | 0.58"), md)
        let results = try RecordFile.read(EvaluationResults.self, from: out + "/evaluation_results.json")
        XCTAssertEqual(results.finetunedModel.metrics, hf)
        XCTAssertEqual(results.baseModel.source, "base")
    }

    func testTrajectoryCorrelationAndSmallStatistics() {
        XCTAssertEqual(try XCTUnwrap(Metrics.pearson([0.1, 0.2, 0.3], [0.2, 0.4, 0.7])), 0.9933992677987827, accuracy: 1e-12)
        XCTAssertNil(Metrics.pearson([0.1, 0.2], [0.2, 0.4]))        // fewer than 3 points
        XCTAssertNil(Metrics.pearson([0.1, 0.1, 0.1], [0.2, 0.4, 0.7]))  // constant series
        XCTAssertEqual(Metrics.mean([0.25, 0.5]), 0.375)
        XCTAssertNil(Metrics.mean([]))
        let p = Metrics.proportion([true, false, false, false])
        XCTAssertEqual(p.ci95[0], 0.04558726080970055, accuracy: 1e-12)
        XCTAssertEqual(p.ci95[1], 0.6993581574175981, accuracy: 1e-12)
    }
}

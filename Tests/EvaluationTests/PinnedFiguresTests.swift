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
            var s = EvaluatedItem(id: "test-spelling-direct-\(i)", task: "spelling", answerType: .letters, style: "direct", mode: "non-thinking", sample: 0, prompt: "p",
                                  output: "o", gold: "g", parsed: spelling[i] ? w : (i == 3 ? nil : "x"), correct: spelling[i], truncated: false,
                                  word: w, metadata: QuestionFacts(word: w, wordLength: 2))
            s.spelling = SpellingScores(characterAccuracy: charAcc[i], levenshtein: 1 - charAcc[i], bleu1: charAcc[i], bleu2: 0, bleu3: 0, bleu4: 0,
                                        rougeLPrecision: charAcc[i])
            items.append(s)
            items.append(EvaluatedItem(id: "test-count-direct-\(i)", task: "count", answerType: .number, style: "direct", mode: "non-thinking", sample: 0, prompt: "p",
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
        let k = Report.criteria(base: base, finetuned: ft, hb, hf)
        // Pooled tests cluster by word (here one item per word: the exact McNemar test). Count: one word
        // moved wrong → right, p = P(|±1| ≥ 1) = 1. Spelling: two words moved, p = P(|±1 ±1| ≥ 2) = 0.5.
        // Holm over the two: min(1, 2 · 0.5) = 1, then max(1, 1) = 1.
        let count = try XCTUnwrap(k["count"])
        XCTAssertEqual(count.mcnemarP, 1)
        XCTAssertEqual(count.mcnemarPHolm, 1)
        XCTAssertEqual(k["spelling"]?.mcnemarP ?? 0, 0.5, accuracy: 1e-15)
        XCTAssertEqual(k["spelling"]?.mcnemarPHolm ?? 0, 1, accuracy: 1e-15)
        XCTAssertEqual(count.aboveBestBaseline, false)
        XCTAssertTrue(count.improved)
        XCTAssertFalse(count.improvementSignificant)
        XCTAssertEqual(count.accuracyChange, 0.25)
        // Every count gold is "1": always answering 1 scores 100 %, which the fine-tuned 75 % does not beat.
        XCTAssertEqual(count.bestBaseline, "majority")
        XCTAssertEqual(count.bestBaselineAccuracy, 1)
        XCTAssertEqual(count.beatsBestBaseline, false)
        XCTAssertNil(k["spelling"]?.bestBaseline)   // spellings have no trivial baseline
        XCTAssertNil(k["position"])

        let out = FileManager.default.temporaryDirectory.appendingPathComponent("pinned-\(getpid())").path
        let lines = try Report.write(base: base, finetuned: ft, comparison: c, trainingRun: nil, to: out)
        XCTAssertEqual(lines[1], "letter count     base 50.0% → fine-tuned 75.0%  (clustered McNemar p = 1, Holm 1); majority-answer baseline 100.0%")
        XCTAssertEqual(lines.last, "conclusion: spelling improved over the base model, not significantly (Holm p = 1); count improved over the base model, not significantly (Holm p = 1), and is not above the majority-answer baseline (100.0%); position: not evaluated")
        let md = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| count/direct/non-thinking | 4 | 50.0% [15, 85] | 75.0% [30, 95] | +25.0 pts | 1 | majority-answer 100.0% | 1 | – → – |"), md)
        XCTAssertTrue(md.contains("| letter_count | \"1\" 100.0% | – | – | 50.0% | 75.0% |"), md)
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

extension PinnedFiguresTests {
    /// Two seeds' reports against one base: every figure over seeds is mean ± sd [min, max] of the reports.
    func testAggregateOverSeeds() throws {
        let second = run("ft2", spelling: [true, false, false, false], count: [true, false, false, false], charAcc: [1, 0.5, 0.5, 0.5])
        var dirs: [String] = []
        for (i, f) in [ft, second].enumerated() {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("pinned-seed\(i)-\(getpid())").path
            _ = try Report.write(base: base, finetuned: f, comparison: try Compare.run(base: base, finetuned: f, trainingRun: nil), trainingRun: nil, to: out)
            dirs.append(out)
        }
        let s = try Summary.make(try dirs.map { try ReportRun(dir: $0) })
        // Count accuracy 0.75 and 0.25: mean 0.5, sd √((0.25² + 0.25²)/1) = 0.3536.
        let count = try XCTUnwrap(s.finetuned["letter_count_accuracy"])
        XCTAssertEqual(count.mean, 0.5)
        XCTAssertEqual(count.sd, 0.3535533905932738, accuracy: 1e-12)
        XCTAssertEqual([count.min, count.max], [0.25, 0.75])
        XCTAssertEqual(s.groups["count/direct/non-thinking"]?.base, 0.5)
        XCTAssertEqual(s.groups["count/direct/non-thinking"]?.bestBaseline, "majority")
        XCTAssertEqual(s.criteria["count"]?.improved, 1)
        XCTAssertEqual(s.baselines["letter_count"]?["majority"]?.accuracy, 1)
        XCTAssertTrue(Summary.table(s).contains("| letter-count accuracy | 50.0% | 50.0 ± 35.4 [25.0, 75.0]% | majority-answer (\"1\") 100.0% |"), Summary.table(s))
        // Reports against different base evaluations are not one experiment.
        let otherBase = run("base2", spelling: [false, false, false, false], count: [false, false, false, false], charAcc: [0, 0, 0, 0])
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("pinned-other-\(getpid())").path
        let third = run("ft3", spelling: [true, true, true, true], count: [true, true, true, true], charAcc: [1, 1, 1, 1])
        _ = try Report.write(base: otherBase, finetuned: third, comparison: try Compare.run(base: otherBase, finetuned: third, trainingRun: nil), trainingRun: nil, to: out)
        XCTAssertThrowsError(try Summary.make([try ReportRun(dir: dirs[0]), try ReportRun(dir: out)])) { XCTAssertTrue("\($0)".contains("different base"), "\($0)") }
        // One seed given twice would shrink the spread.
        XCTAssertThrowsError(try Summary.make([try ReportRun(dir: dirs[0]), try ReportRun(dir: dirs[0])])) { XCTAssertTrue("\($0)".contains("given twice"), "\($0)") }
        XCTAssertThrowsError(try ReportRun(dir: base.dir)) { XCTAssertTrue("\($0)".contains("not a comparison report"), "\($0)") }
    }
}

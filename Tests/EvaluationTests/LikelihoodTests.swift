// Format-free scoring: candidate log-probabilities against transformers (the tiny GPT-2, Llama and
// Qwen3 fixtures, and the real SmolLM2 when its asset is present), the candidate distribution's
// summaries, the spelling-implied answers, the answer reader's numbered-spelling rule, and
// `eval --scoring both` end to end.
import Evaluation
import Foundation
import Models
import Records
import SpellingData
import TestSupport
import Tokenization
import XCTest

final class LikelihoodTests: XCTestCase {
    struct Case: Decodable {
        var context: String
        var context_ids: [Int]
        var candidates: [String]
        var logprobs: [Double]
    }

    /// Relative 1e-4 per log-probability (float32 forward passes, log-softmax in double on both sides).
    func check(_ name: String, modelPath: String) throws {
        let all = try JSONDecoder().decode([String: [Case]].self, from: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixtures + "/likelihood_reference.json")))
        let cases = try XCTUnwrap(all[name], "no \(name) cases in likelihood_reference.json")
        let m = try LoadedModel.load(path: modelPath)
        let scorer = LikelihoodScorer(model: m.model, tokenizer: m.tokenizer)
        let queries = cases.map { LikelihoodScorer.Query(context: $0.context, contextIds: m.tokenizer.encode($0.context), candidates: $0.candidates) }
        for (q, c) in zip(queries, cases) { XCTAssertEqual(q.contextIds, c.context_ids, "\(name): context ids") }
        // One prompt at a time, and all of them in one batch (shared prefix, multi-token tails): the same numbers.
        let together = try scorer.score(queries, batch: queries.count)
        let alone = try queries.flatMap { try scorer.score([$0], batch: 1) }
        for (k, c) in cases.enumerated() {
            for (j, ref) in c.logprobs.enumerated() {
                let got = together[k][j]
                XCTAssertLessThanOrEqual(abs(got - ref), 1e-4 * max(abs(ref), 1), "\(name) case \(k) candidate '\(c.candidates[j])': \(got) vs transformers \(ref)")
                // Batched and single prompts run GEMMs of other shapes (other summation orders): float32 noise only.
                XCTAssertEqual(alone[k][j], got, accuracy: 1e-5 * max(abs(got), 1), "\(name): batching changed a log-probability")
            }
        }
    }

    func testTinyModelsMatchTransformers() throws {
        for arch in ["gpt2", "llama", "qwen3"] { try check(arch, modelPath: TestPaths.fixtures + "/models/\(arch)") }
    }

    func testSmolLM2MatchesTransformers() throws {
        try check("smollm2", modelPath: try TestPaths.requireAsset(TestPaths.smolLM2))
    }

    func testCandidateSummaries() throws {
        let c = CandidateScores(candidates: ["0", "1", "2"], logprobs: [log(0.2), log(0.5), log(0.3)])
        XCTAssertEqual(c.argmax, "1")
        XCTAssertEqual(c.rank(of: "1"), 1)
        XCTAssertEqual(c.rank(of: "2"), 2)
        XCTAssertEqual(c.rank(of: "0"), 3)
        XCTAssertNil(c.rank(of: "7"))
        // Brier: (0.2)² + (0.5 − 1)² + (0.3)² = 0.38.
        XCTAssertEqual(c.brier(gold: "1"), 0.38, accuracy: 1e-12)
        // Renormalised over the candidates: log-probabilities that sum below 1 give the same distribution.
        let scaled = CandidateScores(candidates: c.candidates, logprobs: c.logprobs.map { $0 - 3 })
        for (p, q) in zip(scaled.probabilities, c.probabilities) { XCTAssertEqual(p, q, accuracy: 1e-12) }
        XCTAssertEqual(CandidateSet.candidates(.number, golds: ["3", "25"]), (0...25).map(String.init))
        XCTAssertNil(CandidateSet.candidates(.number, golds: ["1000000"]))
        XCTAssertEqual(CandidateSet.candidates(.letter, golds: [])?.count, 26)
        XCTAssertFalse(CandidateSet.applies(.number, style: PromptStyle.spellFirst.rawValue))
        XCTAssertFalse(CandidateSet.applies(.letters, style: PromptStyle.direct.rawValue))
    }

    func testGzipRecordsReadBackAndBadFilesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gzip-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = (0..<5000).map { "{\"line\": \($0)}" }.joined(separator: "\n") + "\n"
        try text.write(toFile: dir + "/a", atomically: true, encoding: .utf8)
        XCTAssertEqual(try shell("gzip -9 -c '\(dir)/a' > '\(dir)/a.gz' && cat '\(dir)/a.gz' '\(dir)/a.gz' > '\(dir)/twice.gz'").status, 0)
        XCTAssertEqual(String(decoding: try Gzip.decompress(file: dir + "/a.gz"), as: UTF8.self), text)
        XCTAssertEqual(String(decoding: try Gzip.decompress(file: dir + "/twice.gz"), as: UTF8.self), text + text)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.gz"))
        XCTAssertThrowsError(try Gzip.decompress(whole.prefix(whole.count / 2), path: "cut.gz"))
        XCTAssertThrowsError(try Gzip.decompress(Data("not gzip".utf8), path: "plain"))
        XCTAssertThrowsError(try Gzip.decompress(whole, path: "big", limit: 1000)) { XCTAssertTrue("\($0)".contains("refused"), "\($0)") }
    }

    func testNumberedSpellingIsNotACount() {
        XCTAssertNil(AnswerExtraction.count("1. a\n2. b\n3. u\n4. s", letter: "s"))
        XCTAssertNil(AnswerExtraction.count("1) S\n2) T\n3) R", letter: "r"))
        XCTAssertEqual(AnswerExtraction.count("1. r\n2. r\n\nThere are 2 r's.", letter: "r"), 2)
        XCTAssertEqual(AnswerExtraction.count("s-t-r-a-w\n\n1", letter: "r"), 1)
        XCTAssertEqual(AnswerExtraction.count("3", letter: "r"), 3)
    }

    func item(_ id: String, task: String, word: String, gold: String, parsed: String?, facts: QuestionFacts, likelihood: Bool = false) -> EvaluatedItem {
        var e = EvaluatedItem(id: id, task: task, answerType: AnswerType(task: task) ?? .text, style: "direct", mode: "non-thinking", sample: 0, prompt: "",
                              output: parsed ?? "", gold: gold, parsed: parsed, correct: parsed == gold, truncated: false, word: word, metadata: facts)
        if likelihood {
            e.scoring = .likelihood
            e.likelihood = CandidateScores(candidates: ["0", "1", "2"], logprobs: [-1, -2, -3])
        }
        return e
    }

    func testSpellingImpliedAnswers() {
        var count = QuestionFacts(word: "berry")
        count.letter = "r"
        var pos = QuestionFacts(word: "berry")
        pos.position = 3
        var last = QuestionFacts(word: "berry")
        last.position = 5
        last.ordinal = "last"
        var items = [
            item("s", task: "spelling", word: "berry", gold: "b-e-r-r-y", parsed: "bery", facts: QuestionFacts(word: "berry")),
            item("c", task: "count", word: "berry", gold: "2", parsed: "3", facts: count),
            item("c-l", task: "count", word: "berry", gold: "2", parsed: "0", facts: count, likelihood: true),
            item("p", task: "position", word: "berry", gold: "r", parsed: nil, facts: pos),
            item("l", task: "position", word: "berry", gold: "y", parsed: "y", facts: last),
            item("o", task: "count", word: "other", gold: "1", parsed: "1", facts: QuestionFacts(word: "other")),
        ]
        SpellingImplied.annotate(&items)
        // The model spelled "bery": one r (wrong, the word has 2), the 3rd letter r (right), the last y (right).
        XCTAssertEqual(items[1].implied, ImpliedAnswer(spelling: "bery", answer: "1", correct: false, spellingCorrect: false))
        XCTAssertEqual(items[2].implied?.answer, "1")
        XCTAssertEqual(items[3].implied, ImpliedAnswer(spelling: "bery", answer: "r", correct: true, spellingCorrect: false))
        XCTAssertEqual(items[4].implied?.answer, "y")
        XCTAssertNil(items[5].implied, "a word the model was not asked to spell has no implied answer")
        XCTAssertNil(items[0].implied)
        let m = Aggregation.metrics(items)
        XCTAssertEqual(m["position/direct/non-thinking"]?.spellingImplied?.correct, 2)
        XCTAssertEqual(m["count/direct/non-thinking/likelihood"]?.meanGoldRank, 3)
    }

    func testFewShotExamplesComeFromValidation() throws {
        let data = tinyDataset("fewshot-data", validation: 4, test: 3)
        var r = EvalRequest(model: TestPaths.fixtures + "/models/llama", out: FileManager.default.temporaryDirectory.appendingPathComponent("fewshot-\(getpid())").path)
        r.data = data
        r.chatTemplate = false
        r.tasks = [.count, .position]
        r.styles = [.direct]
        r.scoring = [.generate]   // the tiny model's 64 positions hold no worked example and a candidate
        r.shots = 2
        r.shotsSeed = 5
        r.log = { _ in }
        let s = try Evaluator.run(r)
        let shots = try XCTUnwrap(s.fewShot)
        XCTAssertEqual(shots.split, "validation")
        XCTAssertEqual(shots.examples["count/direct"]?.count, 2)
        XCTAssertTrue(shots.examples.values.joined().allSatisfy { $0.hasPrefix("validation-") })
        // The same seed draws the same examples (so every model compared sees the same prompts).
        r.out += "-again"
        XCTAssertEqual(try Evaluator.run(r).fewShot, shots)
        r.split = "validation"
        XCTAssertThrowsError(try Evaluator.run(r)) { XCTAssertTrue("\($0)".contains("validation"), "\($0)") }
    }

    func testEvalScoresByLikelihoodAndGeneration() throws {
        let data = tinyDataset("likelihood-data", validation: 2, test: 3)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("likelihood-eval-\(getpid())").path
        var r = EvalRequest(model: TestPaths.fixtures + "/models/llama", out: out)
        r.data = data
        r.chatTemplate = false
        r.scoring = [.generate, .likelihood]
        r.log = { _ in }
        let s = try Evaluator.run(r)
        let run = try EvalRun(dir: out)
        let ll = run.items.filter(\.isLikelihood)
        // count and position asked directly, one per test word; spell-first and spelling are generated only.
        XCTAssertEqual(ll.count, 2 * 3)
        XCTAssertEqual(s.likelihoodItems, 6)
        XCTAssertEqual(run.items.count - ll.count, 3 * 3 * 2)
        for it in ll {
            XCTAssertEqual(it.style, "direct")
            let c = try XCTUnwrap(it.likelihood)
            XCTAssertEqual(it.parsed, c.argmax)
            XCTAssertEqual(c.candidates.count, it.task == "count" ? 21 : 26)
        }
        for g in ["count/direct/non-thinking/likelihood", "position/direct/non-thinking/likelihood"] {
            let m = try XCTUnwrap(s.metrics[g], g)
            XCTAssertEqual(m.n, 3)
            XCTAssertEqual(m.unparseable, 0)
            XCTAssertNotNil(m.meanGoldRank)
            XCTAssertNotNil(m.brier)
            XCTAssertNotNil(m.spellingImplied, "every test word was also spelled")
        }
        // The constant baseline is fitted on validation, not on the items it is scored on.
        XCTAssertEqual(s.metrics["count/direct/non-thinking"]?.baselines["majority"]?.fittedOn, "validation")
        XCTAssertEqual(s.metrics["position/direct/non-thinking"]?.baselines["first_letter"]?.kind, BaselineScore.spellingInformed)
        // Likelihood only: the count and position questions asked directly are not generated.
        r.scoring = [.likelihood]
        r.out = out + "-only"
        _ = try Evaluator.run(r)
        let only = try EvalRun(dir: r.out)
        XCTAssertFalse(only.items.contains { !$0.isLikelihood && $0.style == "direct" && $0.task != "spelling" })
        XCTAssertEqual(only.items.filter(\.isLikelihood).map(\.likelihood), ll.map(\.likelihood))
        // Rescoring keeps the likelihood items as they are.
        let re = Evaluator.rescored(run)
        XCTAssertEqual(re.items.filter(\.isLikelihood), run.items.filter(\.isLikelihood))
    }
}

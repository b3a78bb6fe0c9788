// The lm-evaluation-harness tasks `data build` writes (lm_eval/): the real `lm_eval` (PyPI lm-eval,
// pinned in .ci/run) scores a model on them, and picks the same answer as `eval --scoring likelihood`
// on every item — on the tiny Qwen3 fixture (chat template, non-thinking) and on a small dataset with
// the real SmolLM2. Skipped, and said so, where lm_eval is not installed.
import Evaluation
import Foundation
import Records
import SpellingData
import TestSupport
import XCTest

final class HarnessTests: XCTestCase {
    func tmp(_ n: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("harness-\(getpid())-\(n)").path }

    func requireHarness() throws {
        let r = try shell("python3 -c 'import lm_eval'")
        if r.status != 0 { throw XCTSkip("lm_eval is not installed (pip install lm-eval==0.4.13; .ci/run does)") }
    }

    /// Builds a dataset with `tokenizer`, scores its test count/position questions by likelihood with
    /// Strawberry and with lm_eval (`modelArgs`), and compares them item by item.
    func compare(tokenizer: String, model: String, modelArgs: String, words: [String], size: Int, wording: QuestionWording = QuestionWording()) throws {
        let data = tmp("data-\(size)"), wordsFile = tmp("words-\(size).txt")
        try words.joined(separator: "\n").write(toFile: wordsFile, atomically: true, encoding: .utf8)
        var b = BuildRequest(tokenizerPath: tokenizer, outDir: data)
        b.wordsPath = wordsFile
        b.overwrite = true
        b.config.validationSize = 2
        b.config.testSize = size
        b.config.questions = wording
        _ = try DatasetBuilder.build(b)
        for f in ["strawberry.yaml", "strawberry_count.yaml", "strawberry_position.yaml", "strawberry_spelling.yaml", "count_test.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: data + "/lm_eval/" + f), f)
        }

        var r = EvalRequest(model: model, out: tmp("eval-\(size)"))
        r.data = data
        r.tasks = [.count, .position]
        r.styles = [.direct]
        r.scoring = [.likelihood]
        r.log = { _ in }
        _ = try Evaluator.run(r)
        let ours = try EvalRun(dir: r.out).items.filter(\.isLikelihood)
        XCTAssertGreaterThanOrEqual(ours.count, 6, "count and position items of the test words")

        let out = tmp("lm-eval-\(size)")
        let cmd = "HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false python3 -m lm_eval --model hf --model_args '\(modelArgs)' "
            + "--tasks strawberry_count,strawberry_position --include_path lm_eval --apply_chat_template --device cpu --batch_size 1 "
            + "--log_samples --output_path '\(out)'"
        let run = try shell(cmd, in: data)
        XCTAssertEqual(run.status, 0, String(run.output.suffix(3000)))
        // Per task, a samples_*.jsonl: each doc (with its id), its per-choice log-likelihoods and acc.
        var theirs: [String: (pick: String, acc: Double)] = [:]
        for path in FileManager.default.subpaths(atPath: out) ?? [] where path.contains("samples_strawberry_") && path.hasSuffix(".jsonl") {
            for line in try String(contentsOfFile: out + "/" + path, encoding: .utf8).split(separator: "\n") {
                let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let doc = try XCTUnwrap(o["doc"] as? [String: Any])
                let choices = try XCTUnwrap(doc["choices"] as? [String])
                let resps = try XCTUnwrap(o["filtered_resps"] as? [[Any]])
                // lm_eval logs each choice as [log-likelihood, is-greedy], numbers written as strings.
                let ll = resps.compactMap { r in (r.first as? String).flatMap(Double.init) ?? (r.first as? NSNumber)?.doubleValue }
                XCTAssertEqual(ll.count, choices.count)
                let best = ll.indices.max { ll[$0] < ll[$1] || (ll[$0] == ll[$1] && $0 > $1) } ?? 0
                theirs[try XCTUnwrap(doc["id"] as? String)] = (choices[best], try XCTUnwrap((o["acc"] as? NSNumber)?.doubleValue))
            }
        }
        XCTAssertEqual(theirs.count, ours.count, "lm_eval scored \(theirs.count) documents")
        for item in ours {
            let t = try XCTUnwrap(theirs[item.id], item.id)
            XCTAssertEqual(t.pick, item.parsed, "\(item.id): lm_eval picks \(t.pick), Strawberry \(item.parsed ?? "nil")")
            XCTAssertEqual(t.acc == 1, item.correct, item.id)
        }
    }

    func testTinyQwen3AgreesWithLmEval() throws {
        try requireHarness()
        let model = TestPaths.fixtures + "/models/qwen3"
        // Short questions: the tiny model holds 64 positions, chat template and empty think block included.
        var short = QuestionWording()
        short.count = "How many {letter}'s in '{word}'?"
        short.position = "{ordinal} letter in '{word}'?"
        short.lastLetter = "Last letter in '{word}'?"
        short.directSuffix = ""
        try compare(tokenizer: model, model: model, modelArgs: "pretrained=\(model),dtype=float32,enable_thinking=False",
                    words: ["strawberry", "committee", "banana", "queue", "necessary", "rhythm", "zebra", "quiz", "lemon", "summer"], size: 4, wording: short)
    }

    func testSmolLM2AgreesWithLmEval() throws {
        try requireHarness()
        let gguf = try TestPaths.requireAsset(TestPaths.smolLM2)
        let dir = (gguf as NSString).deletingLastPathComponent, file = (gguf as NSString).lastPathComponent
        let words = try String(contentsOfFile: "/usr/share/dict/words", encoding: .utf8).split(separator: "\n").map(String.init)
        try compare(tokenizer: gguf, model: gguf, modelArgs: "pretrained=\(dir),gguf_file=\(file),dtype=float32", words: words, size: 12)
    }
}

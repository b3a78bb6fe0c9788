// eval → compare → report on the tiny Llama: files are valid (JSON schema keys, HTML parses, SVG
// present), batched evaluation equals one-at-a-time, and bad input fails clearly.
import Records
import Adapters
import Evaluation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Models
import Foundation
import ModelFormats
import SpellingData
import TestSupport
import Training
import XCTest

final class EvaluationRunTests: XCTestCase {
    static let dataset = tinyDataset("eval-data", validation: 2, test: 5)

    func tmp(_ n: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("eval-\(getpid())-\(n)").path }

    func request(_ out: String, adapter: String? = nil, batch: Int = 4) -> EvalRequest {
        var r = EvalRequest(model: TestPaths.fixtures + "/models/llama", out: out)
        r.data = Self.dataset
        r.adapter = adapter
        r.batchSize = batch
        r.chatTemplate = false   // the tiny model's 64-token context cannot hold SmolLM2's system prompt
        r.log = { _ in }
        return r
    }

    func testEvalCompareReport() throws {
        let base = tmp("base"), ft = tmp("ft"), report = tmp("report")
        let s = try Evaluator.run(request(base))
        XCTAssertEqual(s.questions, 5 * 3 * 2)
        let items = try String(contentsOfFile: base + "/items.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(items.count, 30)
        let first = try JSONSerialization.jsonObject(with: Data(items[0].utf8)) as! [String: Any]
        for k in ["task", "style", "prompt", "output", "parsed", "gold", "correct"] { XCTAssertNotNil(first[k], k) }

        // Batched (continuous) evaluation gives the same greedy outputs as batch size 1.
        let one = tmp("one")
        _ = try Evaluator.run(request(one, batch: 1))
        XCTAssertEqual(try String(contentsOfFile: one + "/items.jsonl", encoding: .utf8), try String(contentsOfFile: base + "/items.jsonl", encoding: .utf8))

        // A "fine-tuned" model: a random adapter, so outputs differ.
        let loaded = try LoadedModel.load(path: TestPaths.fixtures + "/models/llama")
        var lora = try LoRAState(model: loaded.config, config: LoRAConfig(r: 4, alpha: 8, dropout: 0, targetModules: ["all-linear"]), seed: 9)
        for i in lora.values.indices { lora.values[i] = Float((i * 7919) % 200 - 100) / 400 }
        let adapterDir = tmp("adapter")
        try PEFTAdapter.save(lora, baseModel: "tiny", to: adapterDir)
        _ = try Evaluator.run(request(ft, adapter: adapterDir))

        let b = try EvalRun(dir: base), f = try EvalRun(dir: ft)
        var c = try Compare.run(base: b, finetuned: f, trainingRun: nil)
        // Spelling generalisation: held-out vocabulary tokens vs dictionary words.
        var hb = request(tmp("hb")), hf = request(tmp("hf"), adapter: adapterDir)
        hb.split = "heldout_vocab"; hb.tasks = [.spelling]
        hf.split = "heldout_vocab"; hf.tasks = [.spelling]
        _ = try Evaluator.run(hb)
        _ = try Evaluator.run(hf)
        let g = Compare.generalization(base: b, finetuned: f, heldoutBase: try EvalRun(dir: tmp("hb")), heldoutFinetuned: try EvalRun(dir: tmp("hf")))
        XCTAssertEqual(g.heldoutVocabularyTokens.base.n, g.heldoutVocabularyTokens.finetuned.n)
        c.generalization = g
        // A trajectory of three "checkpoints".
        let traj = tmp("trajectory")
        try? FileManager.default.removeItem(atPath: traj)
        try FileManager.default.createDirectory(atPath: traj, withIntermediateDirectories: true)
        for (step, src) in [(0, base), (10, ft), (20, one)] { try FileManager.default.copyItem(atPath: src, toPath: traj + "/checkpoint-\(step)") }
        let t = try XCTUnwrap(Compare.trajectory(traj))
        XCTAssertEqual(t.checkpoints.count, 3)
        c.trajectory = t
        let lines = try Report.write(base: b, finetuned: f, comparison: c, trainingRun: nil, to: report)
        XCTAssertEqual(lines.count, 5)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report + "/evaluation_results.json"))) as! [String: Any]
        for side in ["base_model", "finetuned_model"] {
            let m = (results[side] as! [String: Any])["metrics"] as! [String: Any]
            for k in ["letter_count_accuracy", "letter_position_accuracy", "character_level_accuracy", "levenshtein_distance"] {
                XCTAssertNotNil(m[k] as? Double, "\(side).\(k)")
            }
        }
        let final = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report + "/final_report.json"))) as! [String: Any]
        let criteria = final["success_criteria"] as! [String: Any]
        for k in ["count_improved", "position_improved", "count_improvement_significant", "position_improvement_significant"] { XCTAssertNotNil(criteria[k] as? Bool, k) }
        let html = try String(contentsOfFile: report + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<svg"))
        XCTAssertEqual(html.components(separatedBy: "<table>").count, html.components(separatedBy: "</table>").count)
        XCTAssertNoThrow(try XMLDocument(xmlString: try String(contentsOfFile: report + "/accuracy_by_task.svg", encoding: .utf8)))
        let md = try String(contentsOfFile: report + "/report.md", encoding: .utf8)
        for section in ["## Transfer analysis", "## Spelling generalisation", "## Checkpoint trajectory"] { XCTAssertTrue(md.contains(section), section) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: report + "/checkpoint_trajectory.svg"))
    }

    func testExternalEvalFile() throws {
        let f = tmp("external.jsonl")
        try """
            {"prompt": "How many r's are in 'strawberry'?", "answer": 3}
            {"prompt": "Spell 'cat'.", "answer": "c-a-t", "task": "spelling"}
            """.write(toFile: f, atomically: true, encoding: .utf8)
        var r = request(tmp("ext"))
        r.data = nil
        r.evalFile = f
        let s = try Evaluator.run(r)
        XCTAssertEqual(s.questions, 2)
        XCTAssertNotNil(s.metrics["count/external/non-thinking"])
        // An empty question set is an error, and leaves no output.
        try "\n".write(toFile: f, atomically: true, encoding: .utf8)
        r.out = tmp("ext-empty")
        XCTAssertThrowsError(try Evaluator.run(r)) { XCTAssertTrue("\($0)".contains("holds no questions"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: r.out))
    }

    func testBadInput() throws {
        var r = request(tmp("bad"))
        r.data = tmp("no-such-dataset")
        XCTAssertThrowsError(try Evaluator.run(r)) { XCTAssertTrue("\($0)".contains("missing"), "\($0)") }
        r = request(tmp("bad2"))
        r.split = "validation"
        r.limit = 0   // the library takes 0 as "none" (the CLI refuses it)
        XCTAssertThrowsError(try Evaluator.run(r)) { XCTAssertTrue("\($0)".contains("no evaluation items"), "\($0)") }
        // An adapter made for another base model is refused with the shapes named.
        let gpt2 = try LoadedModel.load(path: TestPaths.fixtures + "/models/qwen3")
        let other = try LoRAState(model: gpt2.config, config: LoRAConfig(r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj"]), seed: 1)
        let dir = tmp("foreign-adapter")
        try PEFTAdapter.save(other, baseModel: "qwen3", to: dir)
        XCTAssertThrowsError(try Evaluator.run(request(tmp("bad3"), adapter: dir))) { XCTAssertTrue("\($0)".contains("shapes"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp("bad3") + "/items.jsonl"))
        XCTAssertThrowsError(try EvalRun(dir: tmp("nothing"))) { XCTAssertTrue("\($0)".contains("not an evaluation directory")) }
    }
}

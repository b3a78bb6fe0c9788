// `strawberry experiment`: a tiny spec (the tiny Llama, 3 arms × 1 seed × 20 steps) runs to the end;
// the same spec killed (SIGKILL) part-way and run again gives byte-identical evaluations, adapters and
// report; `status` and `report` read what is there.
import Foundation
import TestSupport
import XCTest

final class ExperimentTests: XCTestCase {
    let binary = TestPaths.root + "/.build/debug/strawberry"

    func tmp(_ n: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("experiment-\(getpid())-\(n)").path }

    /// The tiny Llama with room for few-shot prompts: its 64 positions hold a question, not two worked
    /// examples before it. RoPE has no learnt positions, so only the config's limit changes.
    lazy var model: String = {
        let dir = tmp("llama")
        let fm = FileManager.default
        try? fm.removeItem(atPath: dir)
        try? fm.copyItem(atPath: TestPaths.fixtures + "/models/llama", toPath: dir)
        let config = (try? String(contentsOfFile: dir + "/config.json", encoding: .utf8)) ?? ""
        try? config.replacingOccurrences(of: "\"max_position_embeddings\": 64", with: "\"max_position_embeddings\": 512")
            .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        return dir
    }()

    func spec(words: String) -> String {
        """
        name: tiny
        model: \(model)
        model_note: the tiny test Llama
        words: \(words)
        dataset:
          seed: 3
          validation_size: 3
          test_size: 3
          joins: {share: 0.25}
        arms: [spelling, control, positive]
        seeds: [7]
        train:
          set: [batch_size=2, chat_template=false, eval_steps=0, logging_steps=1, max_length=48, learning_rate=1.0e-3, lora.r=4, lora.alpha=8]
          max_steps: 20
          save_steps: 5
        checkpoints: [10, 20]
        validation: {styles: [direct], scoring: both, chat_template: false, batch_size: 4}
        test: {enabled: true, styles: [direct], scoring: both, chat_template: false, batch_size: 4}
        few_shot: {shots: 2, tasks: [count, position], styles: [direct], scoring: both, chat_template: false, batch_size: 4}
        analysis: {sesoi: 0.04, contrasts: [[spelling, control], [spelling, base]], resamples: 200}

        """
    }

    @discardableResult
    func run(_ args: [String], expect status: Int32 = 0) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, status, args.joined(separator: " "))
        return String(decoding: data, as: UTF8.self)
    }

    /// Every file an experiment's result depends on (no timings, no logs with speeds).
    func results(_ out: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let fm = FileManager.default
        for rel in fm.subpaths(atPath: out) ?? [] {
            let keep = rel.hasSuffix("items.jsonl") || (rel.hasPrefix("runs/") && rel.hasSuffix("final/adapter_model.safetensors"))
                || rel.hasPrefix("data/") && rel.hasSuffix(".jsonl") || rel == "report/experiment.json" || rel == "report/report.md"
            if keep { files[rel] = try Data(contentsOf: URL(fileURLWithPath: out + "/" + rel)) }
        }
        return files
    }

    func testRunKillResumeIsByteIdentical() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) is not built") }
        let words = tmp("words.txt")
        try ["strawberry", "committee", "banana", "queue", "necessary", "rhythm", "mississippi", "bookkeeper", "zebra", "quiz", "letter", "summer"]
            .joined(separator: "\n").write(toFile: words, atomically: true, encoding: .utf8)
        let specPath = tmp("spec.yaml")
        try spec(words: words).write(toFile: specPath, atomically: true, encoding: .utf8)

        // Uninterrupted.
        let a = tmp("a")
        try run(["experiment", "run", specPath, "--out", a])
        XCTAssertTrue(try run(["experiment", "status", specPath, "--out", a]).contains("stages done; about 0 s left"))
        try run(["experiment", "report", specPath, "--out", a])
        XCTAssertTrue(try String(contentsOfFile: a + "/report/report.md", encoding: .utf8).contains("(the tiny test Llama), its weights held in f32 in every evaluation"))
        // Training time is recorded per stretch between checkpoints (every 5 steps here), so a kill loses one stretch.
        let timings = try String(contentsOfFile: a + "/timings.jsonl", encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"stage\":\"train spelling seed 7\"") }
        XCTAssertEqual(timings.filter { !$0.contains("\"steps\":0") }.count, 4, timings.joined(separator: "\n"))
        let report = try String(contentsOfFile: a + "/report/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("spelling − control"), report)
        // One seed: the question gets the rule's answer for that case, and the secondary tables are there.
        XCTAssertTrue(report.contains("## The question (primary outcome)") && report.contains("inconclusive (count: inconclusive; position: inconclusive)"), report)
        XCTAssertTrue(report.contains("## Secondary outcomes: test") && report.contains("### Exact spelling (direct) by word length"), report)
        XCTAssertTrue(report.contains("| count likelihood (balanced) | test-2shot | spelling − control |"), "the few-shot pass is contrasted")
        XCTAssertFalse(report.contains("on test-2shot after"), "but it is no conclusion")
        // Evaluations that saw different base weights are no comparison: the report refuses them.
        let mixed = tmp("mixed")
        try? FileManager.default.removeItem(atPath: mixed)
        try FileManager.default.copyItem(atPath: a, toPath: mixed)
        let metrics = mixed + "/eval/control-seed7/step-20/metrics.json"
        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        guard let brace = text.firstIndex(of: "{") else { return XCTFail("\(metrics) is not an object") }
        try text.replacingCharacters(in: brace...brace, with: "{\"weights\": \"bf16\",").write(toFile: metrics, atomically: true, encoding: .utf8)
        try run(["experiment", "report", specPath, "--out", mixed], expect: 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: a + "/eval/positive-seed7/step-10/items.jsonl"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: a + "/eval/base/test/items.jsonl"))
        // The few-shot pass: each question after two worked examples from validation, as its metrics record.
        let fewShot = try String(contentsOfFile: a + "/eval/spelling-seed7/test-2shot/items.jsonl", encoding: .utf8)
        let fewShotMetrics = try String(contentsOfFile: a + "/eval/base/test-2shot/metrics.json", encoding: .utf8)
        XCTAssertTrue(fewShot.contains("\"task\":\"position\"") && !fewShot.contains("\"task\":\"spelling\""), "few_shot.tasks are count and position")
        XCTAssertTrue(fewShotMetrics.contains("\"shots\" : 2") || fewShotMetrics.contains("\"shots\": 2"), fewShotMetrics)

        // Killed part-way (no chance to save anything), then run again to the end.
        let b = tmp("b")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["experiment", "run", specPath, "--out", b]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline, !FileManager.default.fileExists(atPath: b + "/runs/control-seed7/checkpoint-5") { Thread.sleep(forTimeInterval: 0.02) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b + "/runs/control-seed7/final"), "killed before the control run finished")
        let status = try run(["experiment", "status", specPath, "--out", b])
        XCTAssertTrue(status.contains("done     data spelling"), status)
        try run(["experiment", "run", specPath, "--out", b])
        try run(["experiment", "report", specPath, "--out", b])
        let ra = try results(a), rb = try results(b)
        XCTAssertGreaterThan(ra.count, 20)
        XCTAssertEqual(Set(ra.keys), Set(rb.keys))
        for (k, v) in ra { XCTAssertEqual(rb[k], v, "\(k) differs after kill and resume") }

        // A short rerun of one run to its first checkpoint reproduces that checkpoint's files exactly.
        let c = tmp("c")
        try run(["experiment", "run", specPath, "--out", c, "--only", "spelling-seed7", "--stop-after", "10"])
        for rel in ["eval/spelling-seed7/step-10/items.jsonl", "runs/spelling-seed7/checkpoint-10/adapter_model.safetensors", "eval/base/validation/items.jsonl"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: c + "/" + rel)), try Data(contentsOf: URL(fileURLWithPath: a + "/" + rel)), rel)
        }
        for absent in ["eval/spelling-seed7/step-20", "runs/spelling-seed7/final", "runs/control-seed7", "data/control", "eval/base/test"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: c + "/" + absent), absent)
        }
        try run(["experiment", "run", specPath, "--out", c, "--only", "nothing-seed7"], expect: 64)
        // The reproduction check (scripts/check-reproduction.py) on the collected full run and this rerun:
        // reproduced as they are, not once a scored answer is changed.
        let collected = tmp("collected"), check = tmp("check")
        let env = ["B": binary, "EXPERIMENT_DIR": a]
        XCTAssertEqual(try shell("scripts/collect-experiment.sh '\(specPath)' '\(collected)'", environment: env).status, 0)
        let same = try shell("python3 scripts/check-reproduction.py '\(collected)' '\(c)' '\(check)' --run spelling-seed7 --stop-after 10")
        XCTAssertEqual(same.status, 0, same.output)
        XCTAssertTrue(same.output.hasPrefix("reproduced: 9 of 9 files identical"), same.output)
        let items = c + "/eval/spelling-seed7/step-10/items.jsonl"
        let original = try String(contentsOfFile: items, encoding: .utf8)
        guard let flip = original.range(of: "\"correct\":false") ?? original.range(of: "\"correct\":true") else { return XCTFail("no scored item") }
        try original.replacingCharacters(in: flip, with: original[flip].contains("false") ? "\"correct\":true" : "\"correct\":false")
            .write(toFile: items, atomically: true, encoding: .utf8)
        let changed = try shell("python3 scripts/check-reproduction.py '\(collected)' '\(c)' '\(check)' --run spelling-seed7 --stop-after 10")
        XCTAssertEqual(changed.status, 1, changed.output)
        XCTAssertTrue(try String(contentsOfFile: check + "/comparison.md", encoding: .utf8).contains("| `eval/spelling-seed7/step-10/items.jsonl` | DIFFERENT |"))
        try original.write(toFile: items, atomically: true, encoding: .utf8)

        // The transfer experiment's notebook runs on these collected results (where Jupyter is installed).
        if (try? shell("python3 -c 'import nbclient, nbformat, ipykernel, pandas, matplotlib'"))?.status == 0 {
            let nb = try shell("python3 scripts/run-notebook.py notebooks/transfer_experiment.ipynb", environment: ["STRAWBERRY_RESULTS": collected])
            XCTAssertEqual(nb.status, 0, nb.output)
        }

        // Its status counts the short budget as done (not 10 of 20 steps with time left).
        let short = try run(["experiment", "status", specPath, "--out", c, "--only", "spelling-seed7", "--stop-after", "10"])
        XCTAssertTrue(short.contains("done     train spelling seed 7 to step 10") && short.contains("about 0 s left"), short)

        // The spec is the experiment's: a changed recipe is refused, added seeds are not.
        try spec(words: words).replacingOccurrences(of: "max_steps: 20", with: "max_steps: 30")
            .replacingOccurrences(of: "checkpoints: [10, 20]", with: "checkpoints: [10, 30]").write(toFile: specPath, atomically: true, encoding: .utf8)
        try run(["experiment", "run", specPath, "--out", b], expect: 1)
    }

    func testBadSpecsAreRefusedClearly() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) is not built") }
        let path = tmp("bad.yaml")
        for bad in ["arms: [spelling, spelling]", "checkpoints: [20, 10]\ntrain: {max_steps: 20}", "trian: {max_steps: 3}",
                    "validation: {scoring: sometimes}", "analysis: {contrasts: [[spelling, nothing]]}", "dataset: {joins: {share: 2}}",
                    "checkpoints: [5]\ntrain: {max_steps: 10}", "- a list", "dataset: {joins: {shar: 0.5}}", "out: \"\"", "train: {set: [nonsense]}", "train: {set: [lora.r=0]}",
                    "few_shot: {shots: 0}", "validation: {shots: 2}", "few_shot: {shots: 2, scoring: often}"] {
            try bad.write(toFile: path, atomically: true, encoding: .utf8)
            try run(["experiment", "status", path], expect: 1)
        }
    }
}

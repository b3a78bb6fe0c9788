// The command line: parsing, documented flags, and end-to-end runs on the tiny fixture model.
import ArgumentParser
import Foundation
@testable import StrawberryCLI
import Publishing
import Records
import Release
import TestSupport
import XCTest

final class CLITests: XCTestCase {
    /// Runs are recorded in a store of this test process, not the user's ~/.strawberry.
    static let store: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-store-\(getpid())").path
        setenv("STRAWBERRY_HOME", dir, 1)
        return dir
    }()
    override func setUp() { _ = Self.store }

    func testEveryGenerateFlagIsDocumented() {
        let help = Strawberry.helpMessage(for: Generate.self)
        for flag in ["--model", "--prompt", "--chat", "--system", "--thinking", "--no-thinking", "--max-tokens", "--temperature",
                     "--top-k", "--top-p", "--min-p", "--repetition-penalty", "--seed", "--stop", "--json", "--threads"] {
            XCTAssertTrue(help.contains(flag), "generate --help lacks \(flag)")
        }
        for (command, flags) in [(Logits.self as ParsableCommand.Type, ["--top", "--json", "--chat"]),
                                 (Tokenize.self, ["--text", "--json"]), (BenchGenerate.self, ["--prompt-tokens", "--batch", "--json", "--no-peer"])] {
            let h = Strawberry.helpMessage(for: command)
            for f in flags { XCTAssertTrue(h.contains(f), "\(command) --help lacks \(f)") }
        }
    }

    func testParsing() throws {
        let cmd = try Strawberry.parseAsRoot(["generate", "--model", "m.gguf", "--prompt", "hi", "--chat", "--no-thinking",
                                              "--temperature", "0", "--stop", "a", "--stop", "b", "--json"])
        let g = try XCTUnwrap(cmd as? Generate)
        XCTAssertEqual(g.promptOptions.thinking, false)
        XCTAssertEqual(g.stop, ["a", "b"])
        XCTAssertEqual(g.temperature, 0)
        XCTAssertThrowsError(try Strawberry.parseAsRoot(["generate", "--prompt", "hi"]))  // --model is required
    }

    func testGenerateAndTokenizeOnTinyModel() throws {
        let model = TestPaths.fixtures + "/models/qwen3"
        let out = try capture {
            var c = try Strawberry.parseAsRoot(["generate", "--model", model, "--prompt", "Spell 'queue'.", "--chat",
                                                "--no-thinking", "--temperature", "0", "--max-tokens", "5", "--json"])
            try c.run()
        }
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        XCTAssertEqual((json["output_ids"] as! [Int]).count, 5)
        XCTAssertNotNil(json["decode_tokens_per_second"])
        let ids = json["prompt_ids"] as! [Int]
        XCTAssertFalse(ids.isEmpty)
        let tok = try capture {
            var c = try Strawberry.parseAsRoot(["tokenize", "--model", model, "--text", "strawberry", "--json"])
            try c.run()
        }
        let t = try JSONSerialization.jsonObject(with: Data(tok.utf8)) as! [String: Any]
        XCTAssertEqual((t["ids"] as! [Int]).count, (t["tokens"] as! [String]).count)
    }

    func tmp(_ name: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: p)
        return p
    }

    /// Parses and runs one command line, returning what it printed.
    @discardableResult
    func strawberry(_ args: [String]) throws -> String {
        try capture {
            var c = try Strawberry.parseAsRoot(args)
            try c.run()
        }
    }

    /// data build → train (2 steps) → eval (base, adapter) → compare → merge, through the command line on
    /// the tiny Llama, with the numbers each step prints read back from the files it wrote.
    func testTheWholePipelineThroughTheCommandLine() throws {
        let model = TestPaths.fixtures + "/models/llama"
        let words = tmp("words.txt")
        try ["strawberry", "committee", "banana", "queue", "necessary", "rhythm", "zebra", "mississippi", "bookkeeper", "quiz", "balloon",
             "coffee", "address", "pepper"].joined(separator: "\n")
            .write(toFile: words, atomically: true, encoding: .utf8)
        let data = tmp("data")
        let built = try strawberry(["data", "build", "--tokenizer", model, "--words", words, "--out", data, "--validation-size", "2",
                                    "--test-size", "3", "--json"])
        let manifest = try RecordFile.decode(DatasetManifest.self, Data(built.utf8), path: "stdout", line: nil)
        XCTAssertEqual(manifest.count("test_words"), 3)
        XCTAssertEqual(manifest, try RecordFile.read(DatasetManifest.self, from: data + "/manifest.json"))
        // A second build into the same directory needs --overwrite; a directory that is not a dataset is never replaced.
        XCTAssertThrowsError(try strawberry(["data", "build", "--tokenizer", model, "--words", words, "--out", data]))
        let notADataset = tmp("keep")
        try FileManager.default.createDirectory(atPath: notADataset, withIntermediateDirectories: true)
        try "mine".write(toFile: notADataset + "/notes.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try strawberry(["data", "build", "--tokenizer", model, "--words", words, "--out", notADataset, "--overwrite"]))
        XCTAssertEqual(try String(contentsOfFile: notADataset + "/notes.txt", encoding: .utf8), "mine")

        let run = tmp("run")
        let trained = try strawberry(["train", "--config", TestPaths.root + "/configs/train-smollm2.yaml", "--set", "model=\(model)",
                                      "--set", "data=\(data)", "--set", "output_dir=\(run)", "--set", "max_steps=2", "--set", "batch_size=2",
                                      "--set", "chat_template=false", "--set", "eval_steps=0", "--set", "save_steps=0", "--set", "logging_steps=1"])
        XCTAssertTrue(trained.contains("adapter: \(run)/final"), trained)
        let log = try RecordFile.readLines(TrainingLogLine.self, from: run + "/metrics.jsonl")
        XCTAssertEqual(log.map(\.step), [1, 2])
        XCTAssertTrue(log.allSatisfy { ($0.loss ?? .nan).isFinite })

        let base = tmp("eval-base"), ft = tmp("eval-ft")
        for (dir, adapter) in [(base, nil), (ft, run + "/final")] as [(String, String?)] {
            var args = ["eval", "--model", model, "--data", data, "--out", dir, "--no-chat-template", "--batch-size", "4", "--tasks", "spelling,count"]
            if let adapter { args += ["--adapter", adapter] }
            let printed = try strawberry(args)
            let summary = try RecordFile.read(EvaluationSummary.self, from: dir + "/metrics.json")
            XCTAssertEqual(summary.questions, 3 * 2 * 2)
            let g = try XCTUnwrap(summary.metrics["count/direct/non-thinking"])
            XCTAssertTrue(printed.contains(String(format: "accuracy %5.1f%%", 100 * g.accuracy)), printed)
        }
        let report = tmp("report")
        let compared = try strawberry(["compare", base, ft, "--out", report, "--run", run])
        // Each step was recorded as a run, with lineage: the compare's parents are the two evaluations,
        // the fine-tuned evaluation's parent is the training run.
        let store = try Store(directory: Self.store)
        let trainRun = try XCTUnwrap(store.runs(kind: "train").last { $0.params["out"] == URL(fileURLWithPath: run).standardizedFileURL.path })
        XCTAssertNotNil(trainRun.metrics["loss"])
        XCTAssertNotNil(trainRun.lineage["dataset_manifest"])
        let evals = try store.runs(kind: "eval").suffix(2)
        XCTAssertEqual(evals.last?.parents, [trainRun.id])
        let cmp = try XCTUnwrap(store.runs(kind: "compare").last)
        XCTAssertEqual(Set(cmp.parents), Set(evals.map(\.id)))
        XCTAssertTrue(try strawberry(["runs", "show", cmp.id]).contains("finetuned/letter_count_accuracy"))
        // The gate and the registry through the command line: two forced deployments, the first one
        // promoted to Staging (challenger), a free alias, all read back as JSON.
        let registry = tmp("registry-store")
        for i in 1...2 {
            try strawberry(["deploy", "--evaluation-results", report, "--adapter", run + "/final", "--store", registry,
                            "--output-dir", tmp("deployment-\(i)"), "--force-deploy", "--skip-hf-push", "--json"])
        }
        let staged = try strawberry(["registry", "promote", "strawberry-spelling-lora", "1", "--stage", "Staging", "--store", registry, "--json"])
        struct Changes: Decodable { var stage_changes: [StageChange]; var mlflow: [String] }
        XCTAssertEqual(try JSONDecoder().decode(Changes.self, from: Data(staged.utf8)).stage_changes, [StageChange(version: 1, from: "Archived", to: "Staging")], staged)
        try strawberry(["registry", "alias", "strawberry-spelling-lora", "first", "1", "--store", registry])
        let shown = try JSONDecoder().decode([ModelVersion].self, from: Data(try strawberry(["registry", "show", "strawberry-spelling-lora", "--store", registry, "--json"]).utf8))
        XCTAssertEqual(shown.map(\.stage), ["Staging", "Production"])
        XCTAssertEqual(shown.map(\.aliases), [["challenger", "first"], ["champion"]])
        XCTAssertThrowsError(try strawberry(["registry", "alias", "strawberry-spelling-lora", "champion", "1", "--store", registry])) {
            XCTAssertTrue("\($0)".contains("follows the Production stage"), "\($0)")
        }
        XCTAssertThrowsError(try strawberry(["registry", "alias", "strawberry-spelling-lora", "first", "--store", registry]))   // neither version nor --delete
        try publishAndPull(model: model, run: run, report: report, data: data)
        let results = try RecordFile.read(EvaluationResults.self, from: report + "/evaluation_results.json")
        let count = try XCTUnwrap(results.finetunedModel.metrics.accuracy["letter_count"]?.accuracy)
        XCTAssertTrue(compared.contains(String(format: "fine-tuned %.1f%%", 100 * count)), compared)
        XCTAssertTrue(FileManager.default.fileExists(atPath: report + "/training_loss.svg"))
        XCTAssertThrowsError(try strawberry(["compare", base, base, "--out", tmp("report-same")])) { XCTAssertTrue("\($0)".contains("same directory"), "\($0)") }
        // rescore: in place, or into a new directory; never over another evaluation without --overwrite, never inside its input.
        let rescored = tmp("rescored")
        XCTAssertTrue(try strawberry(["rescore", ft, "--out", rescored]).contains("items read differently"))
        XCTAssertEqual(try RecordFile.read(EvaluationSummary.self, from: rescored + "/metrics.json").metrics.keys.sorted(),
                       try RecordFile.read(EvaluationSummary.self, from: ft + "/metrics.json").metrics.keys.sorted())
        XCTAssertThrowsError(try strawberry(["rescore", base, "--out", rescored])) { XCTAssertTrue("\($0)".contains("--overwrite"), "\($0)") }
        XCTAssertThrowsError(try strawberry(["rescore", base, "--out", base + "/sub"])) { XCTAssertTrue("\($0)".contains("inside"), "\($0)") }
        try strawberry(["rescore", rescored])
        // aggregate: one report per seed; the same report twice is refused.
        let summary = tmp("summary")
        XCTAssertTrue(try strawberry(["aggregate", report, "--out", summary]).contains("letter-count accuracy"))
        XCTAssertThrowsError(try strawberry(["aggregate", report, report, "--out", tmp("summary-2")])) { XCTAssertTrue("\($0)".contains("twice"), "\($0)") }
        XCTAssertThrowsError(try strawberry(["aggregate", base, "--out", tmp("summary-3")])) { XCTAssertTrue("\($0)".contains("compare --out"), "\($0)") }
        // A hand-edited item stops `compare` with the file, line and field named, before any report file is written.
        var lines = try String(contentsOfFile: ft + "/items.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: #""correct":"#, with: #""correct":"yes","was":"#)
        try (lines.joined(separator: "\n") + "\n").write(toFile: ft + "/items.jsonl", atomically: true, encoding: .utf8)
        let second = tmp("report-2")
        // A file cut at a line boundary is valid JSONL; the counts in metrics.json catch it.
        let cut = lines.dropLast(3).joined(separator: "\n") + "\n"
        try cut.replacingOccurrences(of: #""correct":"yes","was":"#, with: #""correct":"#).write(toFile: ft + "/items.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try strawberry(["compare", base, ft, "--out", second])) { XCTAssertTrue("\($0)".contains("items.jsonl has"), "\($0)") }
        try (lines.joined(separator: "\n") + "\n").write(toFile: ft + "/items.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try strawberry(["compare", base, ft, "--out", second])) { XCTAssertTrue("\($0)".contains("items.jsonl:2: field 'correct'"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: second))

        // Two different question sets share no pair: an error, not "McNemar p = 1".
        let external = tmp("external.jsonl"), extEval = tmp("eval-external")
        try #"{"prompt": "How many r's are in 'strawberry'?", "answer": 3}"#.write(toFile: external, atomically: true, encoding: .utf8)
        try strawberry(["eval", "--model", model, "--eval-file", external, "--out", extEval, "--no-chat-template"])
        XCTAssertThrowsError(try strawberry(["compare", base, extEval, "--out", tmp("report-3")])) { XCTAssertTrue("\($0)".contains("share no question"), "\($0)") }
        // An evaluation directory a person added a file to is theirs: eval refuses to replace it.
        try "mine".write(toFile: base + "/thesis.tex", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try strawberry(["eval", "--model", model, "--data", data, "--out", base, "--no-chat-template"])) { XCTAssertTrue("\($0)".contains("thesis.tex"), "\($0)") }
        XCTAssertEqual(try String(contentsOfFile: base + "/thesis.tex", encoding: .utf8), "mine")

        // Resume a copied run through one of its checkpoints: it continues in the copy, with its own config.
        let run2 = tmp("run-2"), copy = tmp("run-2-copy")
        try strawberry(["train", "--config", TestPaths.root + "/configs/train-smollm2.yaml", "--set", "model=\(model)", "--set", "data=\(data)",
                        "--set", "output_dir=\(run2)", "--set", "max_steps=3", "--set", "batch_size=2", "--set", "chat_template=false",
                        "--set", "eval_steps=0", "--set", "save_steps=2", "--set", "save_total_limit=0"])
        try FileManager.default.copyItem(atPath: run2, toPath: copy)
        try FileManager.default.removeItem(atPath: copy + "/final")
        let before = try FileManager.default.contentsOfDirectory(atPath: run2).sorted()
        try strawberry(["train", "--resume", copy + "/checkpoint-2"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: copy + "/final/adapter_model.safetensors"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run2).sorted(), before)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: copy + "/final/adapter_model.safetensors")),
                       try Data(contentsOf: URL(fileURLWithPath: run2 + "/final/adapter_model.safetensors")))

        let merged = tmp("merged")
        XCTAssertTrue(try strawberry(["merge", "--model", model, "--adapter", run + "/final", "--out", merged]).contains("merged"))
        for f in ["config.json", "model.safetensors", "tokenizer.json"] { XCTAssertTrue(FileManager.default.fileExists(atPath: merged + "/" + f), f) }
        // merge replaces only its own earlier output, and only with --overwrite; never a model folder.
        XCTAssertThrowsError(try strawberry(["merge", "--model", model, "--adapter", run + "/final", "--out", merged]))
        try strawberry(["merge", "--model", model, "--adapter", run + "/final", "--out", merged, "--overwrite"])
        let modelCopy = tmp("model-copy")
        try FileManager.default.copyItem(atPath: model, toPath: modelCopy)
        XCTAssertThrowsError(try strawberry(["merge", "--model", model, "--adapter", run + "/final", "--out", modelCopy, "--overwrite"]))
        XCTAssertTrue(FileManager.default.fileExists(atPath: modelCopy + "/model.gguf"))
    }

    /// Ctrl-C during training: the step finishes, a checkpoint is saved, and the exit code says the
    /// run was interrupted (130), so `make` and scripts stop; --resume then finishes it.
    func testInterruptedTrainingExitsNonZeroAndResumes() throws {
        let binary = TestPaths.root + "/.build/debug/strawberry"
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) is not built") }
        let model = TestPaths.fixtures + "/models/llama"
        let data = tinyDataset("cli-signal-data", validation: 2, test: 2)
        let run = tmp("signal-run")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["train", "--config", TestPaths.root + "/configs/train-smollm2.yaml", "--set", "model=\(model)", "--set", "data=\(data)",
                       "--set", "output_dir=\(run)", "--set", "max_steps=100000", "--set", "batch_size=2", "--set", "chat_template=false",
                       "--set", "eval_steps=0", "--set", "save_steps=0", "--set", "logging_steps=1"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait for the first logged step, then interrupt.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !((try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? "").contains("\"step\":2") {
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.interrupt()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 130)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("checkpoint-") }
        XCTAssertEqual(checkpoints.count, 1, "\(checkpoints)")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: run).contains { $0.contains(".tmp") || $0.hasPrefix(".old") })
    }

    func testOutOfRangeNumbersAreUsageErrors() {
        let m = ["--model", "m.gguf", "--prompt", "hi"]
        for bad in [["generate"] + m + ["--temperature", "-1"], ["generate"] + m + ["--temperature", "nan"], ["generate"] + m + ["--top-p", "2"],
                    ["generate"] + m + ["--max-tokens=-5"], ["generate"] + m + ["--threads", "3000000000"], ["logits"] + m + ["--top", "-1"],
                    ["eval", "--model", "m", "--data", "d", "--out", "o", "--limit", "-1"], ["eval", "--model", "m", "--data", "d", "--out", "o", "--mode", "sleepy"],
                    ["eval", "--model", "m", "--data", "d", "--out", "o", "--tasks", "spelling,colour"], ["eval", "--model", "m", "--out", "o"],
                    ["bench", "train", "--model", "m", "--rank", "0"],
                    // An empty --store is a mistake, not "the default store".
                    ["runs", "list", "--store", ""], ["registry", "list", "--store="], ["deploy", "--evaluation-results", "r", "--adapter", "a", "--store", ""]] {
            XCTAssertThrowsError(try Strawberry.parseAsRoot(bad), bad.joined(separator: " "))
        }
    }

    /// Runs `body` with stdout redirected to a pipe and returns what it printed.
    func capture(_ body: () throws -> Void) throws -> String {
        fflush(nil)
        let pipe = Pipe(), saved = dup(STDOUT_FILENO)
        dup2(pipe.fileHandleForWriting.fileDescriptor, STDOUT_FILENO)
        var thrown: Error?
        do { try body() } catch { thrown = error }
        fflush(nil)
        dup2(saved, STDOUT_FILENO)
        close(saved)
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if let thrown { throw thrown }
        return text
    }

    /// publish (adapter, merged model, dataset) offline, push the adapter's folder to the local Hub, pull
    /// it back, and run the tiny model with the adapter named by hf://.
    func publishAndPull(model: String, run: String, report: String, data: String) throws {
        let folder = tmp("publication")
        let printed = try strawberry(["publish", "--adapter", run + "/final", "--evaluation-results", report, "--base-model", "HuggingFaceTB/SmolLM2-135M-Instruct",
                                      "--to-dir", folder, "--json"])
        let out = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(printed.utf8))) as? [String: Any])
        let path = try XCTUnwrap(out["path_in_repo"] as? String)
        XCTAssertTrue(path.hasPrefix("SmolLM2-135M-Instruct/"), path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + path + "/adapter_model.safetensors"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + path + "/training_config.yaml"))
        XCTAssertThrowsError(try strawberry(["publish", "--adapter", run + "/final", "--evaluation-results", report, "--to-dir", tmp("no-base")])) {
            XCTAssertTrue("\($0)".contains("--base-model"), "\($0)")
        }
        // Merged: the transformers model at the root of its folder, the adapter beside it.
        let merged = tmp("publication-merged")
        try strawberry(["publish", "--adapter", run + "/final", "--evaluation-results", report, "--base-model", "o/tiny-llama", "--merged", "--model", model,
                        "--path-in-repo", "", "--to-dir", merged])
        for f in ["config.json", "model.safetensors", "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "README.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: merged + "/" + f), f)
        }
        XCTAssertTrue(try String(contentsOfFile: merged + "/README.md", encoding: .utf8).contains("library_name: \"transformers\""))
        // A dataset repository: the dataset's files with its card.
        let ds = tmp("publication-dataset")
        try strawberry(["publish", "--dataset", data, "--to-dir", ds])
        XCTAssertEqual(FileManager.default.contents(atPath: ds + "/README.md"), FileManager.default.contents(atPath: data + "/README.md"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: ds + "/manifest.json"))

        let hub = try FakeHub("cli", dir: tmp("hub-cli"))
        setenv("HF_ENDPOINT", hub.url, 1)
        setenv("HF_TOKEN", "secret", 1)
        defer { unsetenv("HF_ENDPOINT"); unsetenv("HF_TOKEN") }
        XCTAssertTrue(try strawberry(["publish", "--from-dir", folder, "--repo-id", "alice/cli"]).contains("created alice/cli"))
        XCTAssertThrowsError(try strawberry(["publish", "--from-dir", data, "--repo-id", "alice/cli"]))   // not a publication folder
        let pulled = tmp("pulled")
        XCTAssertTrue(try strawberry(["pull", "alice/cli", "--subfolder", path, "--to", pulled]).contains("all verified"))
        XCTAssertEqual(FileManager.default.contents(atPath: pulled + "/adapter_model.safetensors"), FileManager.default.contents(atPath: run + "/final/adapter_model.safetensors"))
        // An adapter uploaded from its run: the upload is recorded beside the run (the W&B export puts it in the summary).
        try strawberry(["publish", "--adapter", run + "/final", "--evaluation-results", report, "--base-model", "HuggingFaceTB/SmolLM2-135M-Instruct",
                        "--repo-id", "alice/cli"])
        let published = try RecordFile.read(HubPublicationRecord.self, from: run + "/" + HubPublicationRecord.fileName)
        XCTAssertEqual(published.repoId, "alice/cli")
        XCTAssertEqual(published.pathInRepo, path)
        XCTAssertEqual(published.url, hub.url.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/alice/cli/tree/main/" + path)
        // hf:// wherever an adapter path goes: the same generation as from the local adapter.
        func generate(_ adapter: String) throws -> String {
            try strawberry(["generate", "--model", model, "--adapter", adapter, "--prompt", "Spell 'queue'.", "--temperature", "0", "--max-tokens", "4", "--json"])
        }
        func ids(_ s: String) throws -> [Int] { ((try JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any])?["output_ids"] as? [Int] ?? [] }
        XCTAssertEqual(try ids(try generate("hf://alice/cli/" + path)), try ids(try generate(run + "/final")))
    }
}

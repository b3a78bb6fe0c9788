// The training loop end to end on the tiny Llama: loss goes down, checkpoints hold what PEFT and a
// resume need, an interrupted + resumed run ends with the same adapter bytes as an uninterrupted
// one, and merged exports load back with the same logits.
import Records
import Adapters
import Foundation
import ModelFormats
import Models
import SpellingData
import TestSupport
import Training
import XCTest

final class TrainerTests: XCTestCase {
    static let dataset = tinyDataset("trainer-data", validation: 4, test: 2)

    func config(_ out: String, steps: Int = 12) throws -> TrainConfig {
        try TrainConfig.resolve(yamlPath: TestPaths.root + "/configs/train-smollm2.yaml", overrides: [
            "model=\(TestPaths.fixtures)/models/llama", "data=\(Self.dataset)", "output_dir=\(out)", "max_steps=\(steps)",
            "batch_size=4", "learning_rate=0.01", "warmup_steps=2", "eval_steps=4", "save_steps=4", "logging_steps=1",
            "chat_template=false", "gradient_accumulation_steps=2", "lora.dropout=0.1", "lora.target_modules=all-linear",
            "eval_samples=4", "generation_check_samples=2",
        ])
    }

    func tmp(_ name: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: p)
        return p
    }

    func testConfigResolutionAndOverrides() throws {
        let c = try TrainConfig.resolve(yamlPath: TestPaths.root + "/configs/train-smollm2.yaml", overrides: ["lora.r=4", "max_steps=3", "lr_scheduler=linear"])
        XCTAssertEqual(c.lora.r, 4)
        XCTAssertEqual(c.maxSteps, 3)
        XCTAssertEqual(c.lrScheduler, .linear)
        XCTAssertEqual(c.lora.targetModules, ["q_proj", "k_proj", "v_proj", "o_proj"])
        XCTAssertThrowsError(try TrainConfig.resolve(yamlPath: nil, overrides: ["max_stepz=3"])) { XCTAssertTrue("\($0)".contains("max_stepz")) }
        XCTAssertThrowsError(try TrainConfig.resolve(yamlPath: nil, overrides: ["lora.rank=3"])) { XCTAssertTrue("\($0)".contains("lora.rank")) }
        // The saved resolved config reads back to the same value.
        let again = try TrainConfig.resolve(yamlPath: nil, overrides: [])
        XCTAssertEqual(again, TrainConfig())
        // A partial lora section changes only the keys it names (the PyTorch backend's test_config checks the same).
        let partial = try TrainConfig.resolve(yamlPath: nil, overrides: ["lora.r=8"])
        XCTAssertEqual(partial.lora, LoRAConfig(r: 8, alpha: 32, dropout: 0.05, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"]))
        // report_to (live tracking): a name or a list, `none` meaning nothing; written back only when set.
        XCTAssertEqual(try TrainConfig.resolve(yamlPath: nil, overrides: ["report_to=wandb"]).reportTo, ["wandb"])
        XCTAssertEqual(try TrainConfig.resolve(yamlPath: nil, overrides: ["report_to=[wandb, none]"]).reportTo, ["wandb"])
        XCTAssertNil(try TrainConfig.resolve(yamlPath: nil, overrides: ["report_to=none"]).reportTo)
        XCTAssertThrowsError(try TrainConfig.resolve(yamlPath: nil, overrides: ["report_to=tensorboard"])) { XCTAssertTrue("\($0)".contains("report_to"), "\($0)") }
        XCTAssertFalse(try TrainConfig().yaml().contains("report_to"))
        XCTAssertTrue(try TrainConfig.resolve(yamlPath: nil, overrides: ["report_to=wandb"]).yaml().contains("report_to"))
    }

    /// Every number a config can carry is range-checked before anything is sized or trained from it;
    /// the error names the key. A YAML alias bomb is refused before it is expanded.
    func testHostileConfigValuesAreRefused() throws {
        for bad in ["batch_size=9223372036854775807", "batch_size=0", "eval_samples=-1", "generation_check_samples=-5", "num_epochs=.inf",
                    "num_epochs=1e300", "max_steps=-1\nnum_epochs=0", "lora.r=4611686018427387904", "lora.r=1000000000000", "lora.r=0",
                    "adam_beta1=1", "adam_beta2=-0.1", "learning_rate=.nan", "max_grad_norm=0", "lora.dropout=1", "lora.alpha=1e300",
                    "output_dir=", "warmup_steps=-3"] {
            let overrides = bad.split(separator: "\n").map(String.init)
            XCTAssertThrowsError(try TrainConfig.resolve(yamlPath: nil, overrides: overrides).validate(), bad) { e in
                let key = String(bad.prefix { $0 != "=" }.split(separator: ".").last ?? "")
                XCTAssertTrue("\(e)".contains(key), "\(bad): \(e)")
            }
        }
        let bomb = tmp("bomb.yaml")
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<12 { yaml += "a\(i): &a\(i) [*a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1)]\n" }
        try yaml.write(toFile: bomb, atomically: true, encoding: .utf8)
        let t0 = Date()
        XCTAssertThrowsError(try TrainConfig.resolve(yamlPath: bomb, overrides: [])) { XCTAssertTrue("\($0)".contains("aliases"), "\($0)") }
        XCTAssertThrowsError(try DatasetConfig.load(yamlPath: bomb)) { XCTAssertTrue("\($0)".contains("aliases"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
    }

    func testTrainingLowersLossAndWritesARunDirectory() throws {
        let out = tmp("run")
        let t = try Trainer(config: try config(out, steps: 16))
        t.log = { _ in }
        let r = try t.run()
        XCTAssertFalse(r.interrupted)
        let fm = FileManager.default
        for f in ["config.yaml", "metrics.jsonl", "loss_curve.svg", "final/adapter_config.json", "final/adapter_model.safetensors",
                  "best/adapter_model.safetensors", "checkpoint-16/optimizer.safetensors", "checkpoint-16/trainer_state.json"] {
            XCTAssertTrue(fm.fileExists(atPath: out + "/" + f), f)
        }
        // save_total_limit 2: checkpoints 12 and 16 remain.
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("checkpoint-") }.sorted(), ["checkpoint-12", "checkpoint-16"])
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 17)   // the step-0 evaluation, then one line per step
        let all = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(all[0]["step"] as? Int, 0)
        XCTAssertNotNil(all[0]["eval_loss"] as? Double)
        let recs = Array(all.dropFirst())
        for k in ["step", "epoch", "loss", "grad_norm", "learning_rate", "tokens_per_second", "eval_loss", "eval_spelling_accuracy"] {
            XCTAssertNotNil(recs[0][k], k)
        }
        let evals = all.compactMap { $0["eval_loss"] as? Double }
        XCTAssertEqual(evals.count, 5)
        XCTAssertLessThan(evals.last!, evals.first!, "validation loss should fall: \(evals)")
        let early = recs.prefix(4).map { $0["loss"] as! Double }.reduce(0, +), late = recs.suffix(4).map { $0["loss"] as! Double }.reduce(0, +)
        XCTAssertLessThan(late, early)
        XCTAssertTrue(try String(contentsOfFile: out + "/loss_curve.svg", encoding: .utf8).contains("<polyline"))
    }

    func testInterruptedAndResumedRunEqualsUninterrupted() throws {
        let a = tmp("straight"), b = tmp("interrupted")
        let straight = try Trainer(config: try config(a))
        straight.log = { _ in }
        _ = try straight.run()
        let first = try Trainer(config: try config(b))
        first.log = { _ in }
        first.shouldStop = { $0 == 5 }    // as if Ctrl-C arrived during step 5
        let stopped = try first.run()
        XCTAssertTrue(stopped.interrupted)
        XCTAssertEqual(stopped.steps, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: b + "/checkpoint-5/trainer_state.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: b + "/final"))
        // A fresh run into a directory that holds a run is refused, touching nothing.
        XCTAssertThrowsError(try Trainer(config: try config(b)).run()) { XCTAssertTrue("\($0)".contains("--resume"), "\($0)") }
        // A hand-edited trainer state that no run could reach is refused on resume, naming the file.
        let statePath = b + "/checkpoint-5/trainer_state.json"
        let good = try String(contentsOfFile: statePath, encoding: .utf8)
        for (from, to) in [("\"optimizer_step\": 5", "\"optimizer_step\": 9223372036854775807"), ("\"epoch\": 0", "\"epoch\": -3"),
                           ("\"seed\": 42", "\"seed\": 7"), ("\"global_step\": 5", "\"global_step\": \"five\"")] {
            XCTAssertTrue(good.contains(from), from)
            try good.replacingOccurrences(of: from, with: to).write(toFile: statePath, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Trainer(config: try config(b), resumeFrom: b + "/checkpoint-5")) { XCTAssertTrue("\($0)".contains("trainer_state.json"), "\($0)") }
        }
        // Leftovers of a run killed mid-save are removed on resume (they are the trainer's by name).
        for leftover in [".tmp-checkpoint-6-99999", "checkpoint-6.tmp-99999", ".old-best-99999"] {
            try FileManager.default.createDirectory(atPath: b + "/" + leftover, withIntermediateDirectories: true)
        }
        // From the run directory, a broken newest checkpoint is skipped for the one before it, and the
        // run still ends exactly where the uninterrupted one did.
        let resumed = try Trainer(config: try config(b), resumeFrom: b)
        resumed.log = { _ in }
        _ = try resumed.run()
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: b).contains { $0.contains("99999") })
        // The log has each step once, however often the run was resumed.
        let steps = try RecordFile.readLines(TrainingLogLine.self, from: b + "/metrics.jsonl").map(\.step)
        XCTAssertEqual(steps, Array(Set(steps)).sorted())
        for f in ["final/adapter_model.safetensors", "final/adapter_config.json"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: a + "/" + f)), try Data(contentsOf: URL(fileURLWithPath: b + "/" + f)), f)
        }
    }

    /// A run that died before its first checkpoint left its config and log; a fresh run there redoes
    /// the log instead of appending to it.
    func testFreshRunRedoesALogLeftBeforeTheFirstCheckpoint() throws {
        let out = tmp("stale-log")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var cfg = try config(out, steps: 2)
        try cfg.yaml().write(toFile: out + "/config.yaml", atomically: true, encoding: .utf8)
        try "{\"epoch\":0.0,\"eval_loss\":9.0,\"eval_spelling_accuracy\":0.0,\"step\":0}\n".write(toFile: out + "/metrics.jsonl", atomically: true, encoding: .utf8)
        cfg.saveSteps = 0
        _ = try Trainer(config: cfg).run()
        let lines = try RecordFile.readLines(TrainingLogLine.self, from: out + "/metrics.jsonl")
        XCTAssertEqual(lines.filter { $0.step == 0 }.count, 1)
        XCTAssertNotEqual(lines.first?.evalLoss, 9.0)
    }

    /// `init_adapter` starts a new run from another run's factors (either engine's), and the gradient
    /// check reports the loss and gradients at exactly those factors; a different layout is refused.
    func testInitAdapterAndGradientCheck() throws {
        let first = tmp("init-first")
        _ = try Trainer(config: try config(first, steps: 3)).run()
        var cfg = try config(tmp("init-second"), steps: 3)
        cfg.initAdapter = first + "/final"
        cfg.lora.dropout = 0.3
        let trainer = try Trainer(config: cfg)
        let given = try PEFTAdapter.load(first + "/final", model: try LoadedModel.load(path: cfg.model).config)
        let (batch, lora, grads) = try trainer.gradientCheck(examples: 3)
        XCTAssertEqual(lora.values, given.values)
        XCTAssertEqual(batch.ids.count, 3)
        XCTAssertEqual(batch.targets, batch.labels.flatMap { $0 }.filter { $0 >= 0 }.count)
        XCTAssertEqual(batch.modules, lora.modules.map(\.path))
        XCTAssertTrue(batch.loss.isFinite && batch.loss > 0)
        XCTAssertTrue(grads.values.contains { $0 != 0 }, "B ≠ 0, so A has gradients too")
        // Dropout is off in the check: the same factors give the same numbers twice.
        let again = try Trainer(config: cfg).gradientCheck(examples: 3)
        XCTAssertEqual(again.batch, batch)
        XCTAssertEqual(again.gradients.values, grads.values)
        // A central difference along the gradient agrees with it (float32: 1e-2 relative).
        var plus = LoRAState(lora, dropout: 0), minus = plus
        let g = grads.values, norm = g.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        let h: Float = 1e-2 / Float(norm)
        for i in g.indices { plus.values[i] += h * g[i]; minus.values[i] -= h * g[i] }
        let m = try XCTUnwrap(try LoadedModel.load(path: cfg.model).model as? any TrainableLM)
        let b = TrainingBatch(sequences: batch.ids, labels: batch.labels)
        var none: [Float]? = nil
        let lp = try m.loss(b, lora: plus, lossScale: 1, dropoutSeed: 0, grads: &none) / Double(batch.targets)
        let lm = try m.loss(b, lora: minus, lossScale: 1, dropoutSeed: 0, grads: &none) / Double(batch.targets)
        XCTAssertEqual((lp - lm) / (2 * Double(h)), norm * norm, accuracy: 1e-2 * norm * norm)
        // Another rank: refused before any work, naming the mismatch.
        cfg.lora.r = 8
        XCTAssertThrowsError(try Trainer(config: cfg)) { XCTAssertTrue("\($0)".contains("init_adapter") && "\($0)".contains("r 16"), "\($0)") }
    }

    func testMergedExportLoadsBackWithTheSameLogits() throws {
        let out = tmp("merge-run")
        let t = try Trainer(config: try config(out, steps: 4))
        t.log = { _ in }
        _ = try t.run()
        for source in [TestPaths.fixtures + "/models/llama", TestPaths.fixtures + "/models/llama/model.gguf"] {
            let base = try LoadedModel.load(path: source)
            let lora = try PEFTAdapter.load(out + "/final", model: base.config)
            let merged = try AdapterMerge.merged(base.model, lora)
            let dir = tmp("merged-\(source.hasSuffix("gguf") ? "gguf" : "hf")")
            try HFExport.write(merged, tokenizer: base.tokenizer, chatTemplate: base.chatTemplate, sourcePath: source, to: dir)
            let back = try LoadedModel.load(path: dir)
            let ids = base.tokenizer.encode("How many r's are in the word 'strawberry'?")
            XCTAssertEqual(back.tokenizer.encode("How many r's are in the word 'strawberry'? 123 naïve"), base.tokenizer.encode("How many r's are in the word 'strawberry'? 123 naïve"))
            let x = try merged.forward(ForwardBatch(tokens: ids), cache: merged.makeCache(), logits: .all)
            let y = try back.model.forward(ForwardBatch(tokens: ids), cache: back.model.makeCache(), logits: .all)
            XCTAssertLessThanOrEqual(maxRelativeError(y.storage, x.storage), 1e-6, source)
            XCTAssertEqual(back.chatTemplate, base.chatTemplate)
        }
    }
}

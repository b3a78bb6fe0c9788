// `strawberry train` and `strawberry merge`.
import Adapters
import ArgumentParser
import Foundation
import Hub
import ModelFormats
import Models
import Records
import Release
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "LoRA fine-tuning (completion-only loss, AdamW, schedules, accumulation, checkpoints, resume).",
        discussion: """
            Writes RUN_DIR (output_dir) with config.yaml, metrics.jsonl, loss_curve.svg, checkpoint-STEP/ (PEFT adapter, \
            optimizer state, trainer_state.json), best/ (lowest validation loss) and final/. Ctrl-C saves a checkpoint and \
            exits; --resume RUN_DIR continues exactly where it stopped.
            """)

    @Option(name: .long, help: "YAML training config (see configs/train-smollm2.yaml).")
    var config: String?
    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set max_steps=50 --set lora.r=8 (repeatable).")
    var overrides: [String] = []
    @Option(name: .long, help: "Resume from a run directory (its newest checkpoint) or a checkpoint directory.")
    var resume: String?
    @Flag(name: .long, help: "Skip checking the dataset's files against the SHA-256s in its manifest.json.")
    var noVerify = false
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var store: StoreOption

    func run() throws {
        threads.apply()
        var cfg = try TrainConfig.resolve(yamlPath: config, overrides: overrides)
        if let resume {
            // --resume takes a run directory or one of its checkpoints; the run continues where it
            // is (a copied run writes into the copy), with the configuration it was started with.
            let runDir = fileExists(resume + "/trainer_state.json") ? (resume as NSString).standardizingPath.components(separatedBy: "/").dropLast().joined(separator: "/") : resume
            guard isDirectory(runDir) else { throw TrainingError.noCheckpoint(path: resume) }
            if config == nil, fileExists(runDir + "/config.yaml") {
                cfg = try TrainConfig.resolve(yamlPath: runDir + "/config.yaml", overrides: overrides)
            }
            cfg.outputDir = runDir.isEmpty ? "." : runDir
        }
        cfg.model = try HubPaths.localBlocking(cfg.model)   // hf:// → the cached snapshot (its path names the commit)
        let trainer = try Trainer(config: cfg, resumeFrom: resume, verifyData: !noVerify)
        var live: LiveTracking?
        if cfg.reportTo?.contains("wandb") == true {
            trainer.onRunDirectoryReady = { dir, resumed in live = LiveTracking.start(runDir: dir, resumed: resumed, warn: trainer.log) }
        }
        let r: TrainResult
        do { r = try trainer.run() } catch { live?.finish(); throw error }
        if let live, live.finish() != 0 { trainer.log("warning: the W&B follower did not finish cleanly; see \(r.runDir)/wandb-live.log") }
        print(r.interrupted ? "interrupted at step \(r.steps); checkpoint: \(r.finalAdapter)" : "adapter: \(r.finalAdapter)")
        if let b = r.bestEvalLoss { print(String(format: "best validation loss %.4f (adapter in %@/best)", b, r.runDir)) }
        if !r.interrupted {
            RunTracker.train(runDir: r.runDir, config: RunTracker.params(cfg), model: cfg.model, data: cfg.data, store: store.store)
            print("loss curve: \(r.runDir)/loss_curve.svg, metrics: \(r.runDir)/metrics.jsonl")
            if let curve = try? sparklines(r.runDir + "/metrics.jsonl") { curve.forEach { print($0) } }
        } else {
            // Saved, but not finished: the exit code says so (130 Ctrl-C, 143 SIGTERM), so scripts stop here.
            throw ExitCode(128 + (r.signal ?? 2))
        }
    }
}

struct GradCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Loss and LoRA gradients of one fixed batch, to check another engine (strawberry-torch gradcheck) against this one.",
        discussion: """
            The batch is the first --examples training examples in file order (those with a target), dropout off; the \
            adapter is the config's seeded initialisation, or --adapter. Writes DIR/batch.json (token ids, targets, mean \
            loss, module order), DIR/grads.safetensors (gradient of the mean loss, PEFT key names) and DIR/adapter/ (the \
            adapter the gradients were taken at).
            """)
    @Option(name: .long, help: "YAML training config (the same file `train` takes).")
    var config: String?
    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set lora.r=4 (repeatable).")
    var overrides: [String] = []
    @Option(name: .long, help: "A PEFT adapter directory to take the gradients at (default: the seeded initialisation, B = 0).")
    var adapter: String?
    @Option(name: .long, help: "Training examples in the batch (1...4096).")
    var examples = 4
    @Option(name: .long, help: "Output directory (new, or an earlier gradcheck output with --overwrite).")
    var out: String
    @Flag(name: .long, help: "Replace an earlier `gradcheck` output in --out (no other directory is ever replaced).")
    var overwrite = false
    @Flag(name: .long, help: "Skip checking the dataset's files against the SHA-256s in its manifest.json.")
    var noVerify = false

    func validate() throws {
        guard (1...4096).contains(examples) else { throw ValidationError("--examples must be in 1...4096, got \(examples)") }
    }

    func run() throws {
        var cfg = try TrainConfig.resolve(yamlPath: config, overrides: overrides)
        cfg.model = try HubPaths.localBlocking(cfg.model)
        if let adapter { cfg.initAdapter = adapter }
        // The output is staged (and its location checked) before the model loads.
        let o = try OutputDirectory.begin(out, kind: .gradientCheck, replace: overwrite, inputs: [cfg.model, cfg.data] + [adapter].compactMap { $0 })
        let batch = try o.fill { () throws -> GradientCheckBatch in
            let trainer = try Trainer(config: cfg, verifyData: !noVerify)
            let (batch, lora, grads) = try trainer.gradientCheck(examples: examples)
            try RecordFile.write(batch, to: o.file("batch.json"))
            try SafetensorsWriter.write(PEFTAdapter.tensors(grads), to: o.file("grads.safetensors"))
            try PEFTAdapter.save(lora, baseModel: cfg.model, to: o.file("adapter"))
            return batch
        }
        print(String(format: "loss %.6f over %d targets in %d sequences; %d LoRA modules; written to %@", batch.loss, batch.targets, batch.ids.count, batch.modules.count, out))
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fold a LoRA adapter into its base model and write a Hugging Face model directory.")
    @Option(name: .long, help: "Base model: a .gguf file or a Hugging Face directory.")
    var model: String
    @Option(name: .long, help: "PEFT adapter directory (adapter_config.json + adapter_model.safetensors).")
    var adapter: String
    @Option(name: .long, help: "Output directory (config.json, model.safetensors, tokenizer files); new, or an earlier export with --overwrite.")
    var out: String
    @Flag(name: .long, help: "Replace an earlier `merge` output in --out (no other directory is ever replaced).")
    var overwrite = false

    func run() throws {
        let (model, adapter) = (try HubPaths.localBlocking(self.model), try HubPaths.localBlocking(self.adapter))
        let m = try LoadedModel.load(path: model)
        let lora = try PEFTAdapter.load(adapter, model: m.config)
        let merged = try AdapterMerge.merged(m.model, lora)
        try HFExport.write(merged, tokenizer: m.tokenizer, chatTemplate: m.chatTemplate, sourcePath: model, to: out, overwrite: overwrite, inputs: [adapter])
        print("merged \(lora.modules.count) LoRA modules into \(out)")
    }
}

/// Training and validation loss as terminal sparklines, first → last value.
func sparklines(_ metricsPath: String) throws -> [String] {
    let recs = try RecordFile.readLines(TrainingLogLine.self, from: metricsPath)
    func line(_ name: String, _ values: [Double]) -> String? {
        let values = values.filter(\.isFinite)
        guard let lo = values.min(), let hi = values.max(), let first = values.first, let last = values.last, (hi - lo).isFinite else { return nil }
        let bars = Array("▁▂▃▄▅▆▇█")
        let spark = values.map { bars[hi > lo ? Int(((($0 - lo) / (hi - lo)) * 7).rounded()) : 0] }
        return String(format: "%@ %.3f → %.3f  ", name, first, last) + String(spark)
    }
    return [line("training loss  ", recs.compactMap(\.loss)), line("validation loss", recs.compactMap(\.evalLoss))].compactMap { $0 }
}

// The training loop: accumulation, clipping, AdamW with a schedule, periodic evaluation (loss and
// a greedy spelling exact-match check), logging, checkpoints that resume bit for bit, and a clean
// stop on SIGINT/SIGTERM. Every random choice derives from the seed and the step, so a resumed run
// retraces the uninterrupted one exactly.
import Adapters
import Foundation
import Generation
import Hashing
import ModelFormats
import Models
import Records
import Signals
import TensorCore

public struct TrainResult {
    public let runDir: String
    public let finalAdapter: String
    public let steps: Int
    public let interrupted: Bool
    /// The signal that stopped the run (SIGINT 2, SIGTERM 15), if one did.
    public let signal: Int32?
    public let lastLoss: Double?
    public let bestEvalLoss: Double?
}

public final class Trainer {
    public let config: TrainConfig
    let loaded: LoadedModel
    let model: any TrainableLM
    let encoder: ExampleEncoder
    var train: [TokenizedExample] = []
    var validation: [TokenizedExample] = []
    var lora: LoRAState
    var optimizer: AdamW
    var step = 0
    /// The optimizer steps done: where a resumed run continues from (the checkpoint it restored).
    public var stepsDone: Int { step }
    var epoch = 0
    var batchInEpoch = 0
    var bestEvalLoss: Double? = nil
    /// The checkpoint a resumed run continues from.
    var restoredFrom: String?
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Test hook: called after each optimizer step; returning true stops the run as SIGINT would.
    public var shouldStop: (Int) -> Bool = { _ in false }
    /// Called once the run directory is ready (checked, config.yaml written, a fresh run's old log gone), before
    /// the first step, with whether the run is resumed: where live tracking starts (`report_to`).
    public var onRunDirectoryReady: (_ runDir: String, _ resumed: Bool) -> Void = { _, _ in }
    /// Called after each checkpoint is saved, with its step: a caller that keeps time (`strawberry experiment`)
    /// records progress there, so a run killed without warning loses at most the stretch since.
    public var onCheckpoint: (_ step: Int) throws -> Void = { _ in }
    /// What live tracking leaves in a run directory (W&B's folder, the id file, the follower's log): a fresh run
    /// where an earlier attempt stopped before its first checkpoint accepts these beside its config and log.
    public static let trackingEntries: Set<String> = ["wandb", "wandb_run.json", "wandb-live.log"]

    public init(config: TrainConfig, resumeFrom: String? = nil, verifyData: Bool = true) throws {
        try config.validate()
        self.config = config
        // A dataset made by `data build` is checked against its manifest; a hand-made data directory
        // (train.jsonl + validation.jsonl, no manifest) is used as it is.
        if verifyData, fileExists(config.data + "/manifest.json") {
            _ = try DatasetManifest.verified(dir: config.data, hash: { try Checksum.sha256(file: $0) })
        } else if verifyData {
            FileHandle.standardError.write(Data("note: \(config.data) has no manifest.json; its files are used as they are, unverified\n".utf8))
        }
        loaded = try LoadedModel.load(path: config.model, precision: config.precision.weights)
        guard let m = loaded.model as? any TrainableLM else {
            throw TrainingError.notTrainable(model: config.model, architecture: loaded.config.architecture.rawValue)
        }
        model = m
        encoder = try ExampleEncoder(model: loaded, config: config)
        do { lora = try LoRAState(model: loaded.config, config: config.lora, seed: config.seed) } catch { throw TrainingError.adapter(error) }
        optimizer = AdamW(parameters: lora.parameterCount, beta1: Float(config.adamBeta1), beta2: Float(config.adamBeta2),
                          eps: Float(config.adamEpsilon), weightDecay: Float(config.weightDecay))
        // Examples whose completion does not fit in max_length carry no target; they are dropped (and counted).
        let allTrain = try TrainingData.readPairs(config.data + "/train.jsonl").map { try encoder.encode(prompt: $0.prompt, completion: $0.completion) }
        train = allTrain.filter { $0.labels.contains { $0 >= 0 } }
        validation = try TrainingData.readPairs(config.data + "/validation.jsonl")
            .map { try encoder.encode(prompt: $0.prompt, completion: $0.completion) }.filter { $0.labels.contains { $0 >= 0 } }
            .prefix(max(config.evalSamples, config.generationCheckSamples)).map { $0 }
        guard !allTrain.isEmpty else { throw TrainingError.emptyData(path: config.data + "/train.jsonl") }
        guard !train.isEmpty else { throw TrainingError.noExamples(path: config.data + "/train.jsonl", maxLength: encoder.maxLength) }
        if allTrain.count > train.count { log("dropped \(allTrain.count - train.count) training examples longer than max_length \(encoder.maxLength)") }
        if let resumeFrom { try restore(resumeFrom) } else if let start = config.initAdapter { try startFrom(adapter: start) }
    }

    /// `init_adapter`: the factors of an existing adapter (from this trainer or the PyTorch backend)
    /// as the starting point; the optimizer starts fresh.
    func startFrom(adapter dir: String) throws {
        lora.values = try factors(of: dir) { given in
            .initAdapterMismatch(path: dir, reason: "it has r \(given.config.r), alpha \(given.config.alpha), \(given.modules.count) LoRA modules; the config's lora asks for r \(lora.config.r), alpha \(lora.config.alpha), \(lora.modules.count) modules (set lora.* to match it)")
        }
        log("starting from the adapter in \(dir)")
    }

    /// The factors of a saved adapter laid out as this run's (the same modules — so the same rank —
    /// alpha and rsLoRA), or the error `mismatch` makes of the adapter found.
    func factors(of dir: String, mismatch: (LoRAState) -> TrainingError) throws -> [Float] {
        let saved: LoRAState
        do { saved = try PEFTAdapter.load(dir, model: loaded.config) } catch let e as AdapterError { throw TrainingError.adapter(e) }
        guard saved.modules == lora.modules, saved.config.alpha == lora.config.alpha, saved.config.useRSLoRA == lora.config.useRSLoRA else {
            throw mismatch(saved)
        }
        return saved.values
    }

    var batchesPerEpoch: Int { (train.count + config.batchSize - 1) / config.batchSize }
    public var totalSteps: Int {
        config.maxSteps > 0 ? config.maxSteps : Int((Double(batchesPerEpoch) * config.numEpochs / Double(config.gradientAccumulationSteps)).rounded(.up))
    }

    var epochOrder: [[Int]] = []
    var epochOrderFor = -1

    func nextBatch() -> TrainingBatch {
        if batchInEpoch >= batchesPerEpoch { epoch += 1; batchInEpoch = 0 }
        if epochOrderFor != epoch {
            epochOrder = TrainingData.epochBatches(count: train.count, lengths: train.map(\.ids.count), batchSize: config.batchSize,
                                                   seed: config.seed, epoch: epoch)
            epochOrderFor = epoch
        }
        let idx = epochOrder[batchInEpoch]
        batchInEpoch += 1
        return TrainingBatch(sequences: idx.map { train[$0].ids }, labels: idx.map { train[$0].labels })
    }

    public func run() throws -> TrainResult {
        let fm = FileManager.default
        let run = config.outputDir
        if step == 0, let existing = try? fm.contentsOfDirectory(atPath: run), !existing.isEmpty {
            // A fresh run never writes over another run's checkpoints, adapters or log; a run that
            // stopped before its first checkpoint left only its config and log, which are redone.
            guard Set(existing).isSubset(of: Self.trackingEntries.union(["config.yaml", "metrics.jsonl"])), fileExists(run + "/config.yaml") else {
                throw TrainingError.outputExists(path: run)
            }
        }
        do { try fm.createDirectory(atPath: run, withIntermediateDirectories: true) } catch {
            throw TrainingError.io(path: run, reason: "cannot create the run directory: \(error.localizedDescription)")
        }
        removeLeftovers(run)
        try writeTextAtomically(try config.yaml(), to: run + "/config.yaml")
        let metricsPath = run + "/metrics.jsonl"
        // A fresh run in a directory where an earlier one stopped before its first checkpoint: that
        // run's log (checked above to be all it left, with its config) is redone, not appended to.
        if step == 0 {
            try? FileManager.default.removeItem(atPath: metricsPath)
            // The abandoned attempt's W&B id (live tracking) must not name this run: its export, its Hub folder.
            // Safe to remove: the check above let a fresh run in only where its config, log and tracking files
            // are all the directory holds, and this one is the follower's (strawberry-torch wandb-live).
            try? FileManager.default.removeItem(atPath: run + "/wandb_run.json")
        }
        if step > 0, fileExists(metricsPath) {
            // The log may run past the checkpoint resumed from: keep only the steps that will not be redone.
            // A run killed mid-write leaves a cut last line: it belongs to a step being redone, so it goes.
            let text = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
            let whole = text.hasSuffix("\n") ? Substring(text) : text[..<(text.lastIndex(of: "\n").map(text.index(after:)) ?? text.startIndex)]
            let kept = try RecordFile.decodeLines(TrainingLogLine.self, text: String(whole), path: metricsPath).filter { $0.step <= step }
            try RecordFile.writeLines(kept, to: metricsPath)
        }
        onRunDirectoryReady(run, step > 0)

        // The first signal finishes the step and saves a checkpoint; a second one exits at once, the
        // last saved checkpoint intact.
        Interruption.install()
        defer { Interruption.uninstall() }

        let total = totalSteps
        let progress = TrainingProgress(total: total, startStep: step, interactive: isatty(2) != 0, log: log)
        var window = (loss: 0.0, tokens: 0, seconds: 0.0, steps: 0)
        var lastLoss: Double? = nil
        var interrupted = false
        log("training \(loaded.config.architecture.rawValue) \(config.model): \(lora.modules.count) LoRA modules, \(lora.parameterCount) trainable parameters, \(train.count) examples, \(total) steps")
        if step == 0 && config.evalSteps > 0 {
            // The starting point (B = 0: the base model), so the curve shows what training changed.
            let (l, a) = try evaluate()
            try appendLine(try RecordFile.text(TrainingLogLine(step: 0, epoch: 0, evalLoss: l, evalSpellingAccuracy: a)), to: metricsPath)
            progress.note(String(format: "step 0: eval_loss %.4f, spelling exact-match %.1f%%", l ?? .nan, 100 * (a ?? .nan)))
        }
        while step < total {
            let t0 = now()
            let micro = (0..<config.gradientAccumulationSteps).map { _ in nextBatch() }
            let lr = Float(config.learningRate) * config.lrScheduler.factor(step: step, warmup: config.warmupSteps, total: total)
            let s = step, seed = config.seed
            let result = try TrainingStep.run(model, lora: &lora, optimizer: &optimizer, microBatches: micro, learningRate: lr,
                                              maxGradNorm: Float(config.maxGradNorm),
                                              dropoutSeed: { k in seed &* 0x100_0000_01B3 &+ UInt64(s) &* 31 &+ UInt64(k) })
            let loss = result.loss, norm = result.gradNorm
            // A NaN/inf loss poisons every factor through AdamW; stop before anything is saved from it.
            guard loss.isFinite, lora.values.allSatisfy(\.isFinite) else { throw TrainingError.diverged(step: step + 1, loss: loss) }
            step += 1
            lastLoss = loss
            let dt = now() - t0
            window.loss += loss; window.steps += 1; window.seconds += dt; window.tokens += result.tokens
            let tps = Double(window.tokens) / max(window.seconds, 1e-9)
            progress.update(step: step, loss: loss, lr: lr, tokensPerSecond: tps)

            var evalLoss: Double? = nil, evalAcc: Double? = nil
            let evaluate = config.evalSteps > 0 && (step % config.evalSteps == 0 || step == total)
            if evaluate {
                (evalLoss, evalAcc) = try self.evaluate()
                if let e = evalLoss, e < (bestEvalLoss ?? .infinity) {
                    bestEvalLoss = e
                    try saveAdapterAtomically(to: run + "/best")
                }
                progress.note(String(format: "step %d: eval_loss %.4f, spelling exact-match %.1f%%", step, evalLoss ?? .nan, 100 * (evalAcc ?? .nan)))
            }
            if step % max(config.loggingSteps, 1) == 0 || evaluate || step == total {
                let rec = TrainingLogLine(step: step, epoch: Double(epoch) + Double(batchInEpoch) / Double(batchesPerEpoch),
                                          loss: window.loss / Double(window.steps), gradNorm: Double(norm), learningRate: Double(lr),
                                          tokensPerSecond: tps, evalLoss: evalLoss, evalSpellingAccuracy: evalAcc)
                try appendLine(try RecordFile.text(rec), to: metricsPath)
                window = (0, 0, 0, 0)
            }
            if Interruption.signal != 0 || shouldStop(step) {
                interrupted = step < total
                try saveCheckpoint(run)
                try onCheckpoint(step)
                if interrupted { progress.note("stopped at step \(step); resume with --resume \(run)"); break }
            } else if (config.saveSteps > 0 && step % config.saveSteps == 0) || (config.saveAt?.contains(step) ?? false) {
                try saveCheckpoint(run)
                try onCheckpoint(step)
            }
        }
        progress.finish()
        var finalDir = run + "/final"
        if !interrupted {
            try saveAdapterAtomically(to: finalDir)
            // The chart is a convenience: the adapter is saved, so a log that cannot be drawn is a warning.
            do { try LossCurve.write(metrics: metricsPath, to: run + "/loss_curve.svg") } catch { log("warning: no loss curve: \(error)") }
        } else {
            finalDir = run + "/checkpoint-\(step)"
        }
        return TrainResult(runDir: run, finalAdapter: finalDir, steps: step, interrupted: interrupted, signal: Interruption.signal != 0 ? Interruption.signal : nil,
                           lastLoss: lastLoss, bestEvalLoss: bestEvalLoss)
    }

    /// Validation loss over the first `eval_samples` examples and greedy exact-match on the first
    /// `generation_check_samples` prompts.
    func evaluate() throws -> (Double?, Double?) {
        var loss: Double? = nil
        let evalSet = Array(validation.prefix(config.evalSamples))
        if !evalSet.isEmpty {
            var sum = 0.0, n = 0
            var none: [Float]? = nil
            for chunk in stride(from: 0, to: evalSet.count, by: config.batchSize) {
                let part = evalSet[chunk..<min(chunk + config.batchSize, evalSet.count)]
                let b = TrainingBatch(sequences: part.map(\.ids), labels: part.map(\.labels))
                sum += try model.loss(b, lora: LoRAState(lora, dropout: 0), lossScale: 1, dropoutSeed: 0, grads: &none)
                n += b.targetCount
            }
            loss = sum / Double(max(n, 1))
        }
        var acc: Double? = nil
        let context = loaded.config.contextLength
        let checks = Array(validation.prefix(config.generationCheckSamples)).filter { $0.ids.count + 4 <= context }
        if !checks.isEmpty {
            let merged = try AdapterMerge.merged(loaded.model, lora)
            let gen = Generator(model: merged, tokenizer: loaded.tokenizer)
            let results = try gen.generateBatch(checks.map {
                GenerationRequest(promptIds: $0.promptIds, maxTokens: $0.ids.count - $0.promptIds.count + 4, stopTokenIds: loaded.stopTokenIds)
            })
            let hits = zip(results, checks).filter { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) == $1.completion.trimmingCharacters(in: .whitespacesAndNewlines) }.count
            acc = Double(hits) / Double(checks.count)
        }
        return (loss, acc)
    }

    // MARK: checkpoints

    /// A temporary sibling for `dir`, hidden and named so that no `checkpoint-*` glob matches it and
    /// a later run recognises it as a leftover of this trainer (`removeLeftovers`).
    static func staging(_ dir: String) -> String {
        let url = URL(fileURLWithPath: dir)
        return url.deletingLastPathComponent().appendingPathComponent(".tmp-\(url.lastPathComponent)-\(getpid())").path
    }

    /// Removes what an earlier, killed run of this trainer left in `run`: its temporary and set-aside
    /// directories (`.tmp-NAME-PID`, and the older `NAME.tmp-PID` / `NAME.old-PID` spellings).
    func removeLeftovers(_ run: String) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: run)) ?? [] {
            // Exactly the names this trainer gives its temporary and set-aside directories.
            let ours = #"^(\.(tmp|old)-(checkpoint-[0-9]+|best|final)-[0-9]+|(checkpoint-[0-9]+|best|final)\.(tmp|old)-[0-9]+)$"#
            if name.range(of: ours, options: .regularExpression) != nil {
                try? fm.removeItem(atPath: run + "/" + name)
                log("removed \(run)/\(name), left by an interrupted run")
            }
        }
    }

    func saveAdapterAtomically(to dir: String) throws {
        let tmp = Self.staging(dir)
        try? FileManager.default.removeItem(atPath: tmp)
        try PEFTAdapter.save(lora, baseModel: config.model, to: tmp)
        try replace(dir, with: tmp)
    }

    /// checkpoint-STEP/: the adapter, optimizer moments, and trainer_state.json; written under a
    /// temporary name and renamed, so a crash mid-write leaves the previous checkpoint intact.
    func saveCheckpoint(_ run: String) throws {
        let dir = run + "/checkpoint-\(step)", tmp = Self.staging(dir)
        try? FileManager.default.removeItem(atPath: tmp)
        try PEFTAdapter.save(lora, baseModel: config.model, to: tmp)
        try SafetensorsWriter.write(["exp_avg": ([optimizer.m.count], optimizer.m), "exp_avg_sq": ([optimizer.v.count], optimizer.v)],
                                    metadata: ["step": String(optimizer.step)], to: tmp + "/optimizer.safetensors")
        let state = TrainerState(globalStep: step, epoch: epoch, batchInEpoch: batchInEpoch, maxSteps: totalSteps, seed: config.seed,
                                 bestEvalLoss: bestEvalLoss, optimizerStep: optimizer.step)
        try RecordFile.write(state, to: tmp + "/trainer_state.json")
        try replace(dir, with: tmp)
        // save_total_limit: keep the newest checkpoints.
        let all = (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
        let steps = all.compactMap { $0.hasPrefix("checkpoint-") ? Int($0.dropFirst("checkpoint-".count)) : nil }.sorted()
        // save_at checkpoints are kept apart from the limit (a dose–response curve needs every one of them).
        let kept = Set(config.saveAt ?? [])
        let rotating = steps.filter { !kept.contains($0) }
        if config.saveTotalLimit > 0 { for s in rotating.dropLast(config.saveTotalLimit) { try? FileManager.default.removeItem(atPath: run + "/checkpoint-\(s)") } }
    }

    /// Continues from a checkpoint directory, or from RUN_DIR's newest checkpoint that reads back
    /// whole — a checkpoint cut short by a crash is skipped, with a warning, for the one before it.
    func restore(_ path: String) throws {
        if fileExists(path + "/trainer_state.json") { return try restore(checkpoint: path) }
        let all = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let steps = all.compactMap { $0.hasPrefix("checkpoint-") ? Int($0.dropFirst("checkpoint-".count)) : nil }.sorted(by: >)
        guard !steps.isEmpty else { throw TrainingError.noCheckpoint(path: path) }
        var lastError: Error?
        for s in steps {
            do { return try restore(checkpoint: path + "/checkpoint-\(s)") } catch {
                log("warning: cannot resume from \(path)/checkpoint-\(s): \(error); trying the one before")
                lastError = error
            }
        }
        throw lastError ?? TrainingError.noCheckpoint(path: path)
    }

    func restore(checkpoint dir: String) throws {
        let state = try RecordFile.read(TrainerState.self, from: dir + "/trainer_state.json")
        let (s, e, b) = (state.globalStep, state.epoch, state.batchInEpoch)
        // Every counter must be one this run could have reached: the step within the run, one optimizer
        // update per step, no more epochs than batches consumed, the batch within its epoch.
        let consumed = s.multipliedReportingOverflow(by: config.gradientAccumulationSteps)
        guard s >= 0, s <= totalSteps, state.optimizerStep == s, b >= 0, b <= batchesPerEpoch, e >= 0,
              !consumed.overflow, e <= consumed.partialValue else {
            throw TrainingError.checkpointMismatch(path: dir + "/trainer_state.json",
                                                   reason: "step \(s), optimizer step \(state.optimizerStep), epoch \(e), batch \(b) do not fit a run of \(totalSteps) steps of \(batchesPerEpoch) batches per epoch")
        }
        guard state.seed == config.seed else {
            throw TrainingError.checkpointMismatch(path: dir + "/trainer_state.json", reason: "it was trained with seed \(state.seed), the config says \(config.seed)")
        }
        lora.values = try factors(of: dir) { _ in .checkpointMismatch(path: dir, reason: "the adapter's layout differs from the config's LoRA settings") }
        let opt = try SafetensorsFile(path: dir + "/optimizer.safetensors")
        let m = try opt.float32("exp_avg"), v = try opt.float32("exp_avg_sq")
        guard m.count == lora.values.count, v.count == lora.values.count else {
            throw TrainingError.checkpointMismatch(path: dir + "/optimizer.safetensors", reason: "optimizer state has \(m.count) values, the adapter \(lora.values.count)")
        }
        optimizer = AdamW(m: m, v: v, step: state.optimizerStep,
                          beta1: Float(config.adamBeta1), beta2: Float(config.adamBeta2), eps: Float(config.adamEpsilon),
                          weightDecay: Float(config.weightDecay))
        step = s
        epoch = e
        batchInEpoch = b
        bestEvalLoss = state.bestEvalLoss
        restoredFrom = dir
        log("resuming from \(dir) at step \(s)")
    }

    func replace(_ dir: String, with tmp: String) throws {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: dir)
        let old = url.deletingLastPathComponent().appendingPathComponent(".old-\(url.lastPathComponent)-\(getpid())").path
        do {
            if fm.fileExists(atPath: dir) { try fm.moveItem(atPath: dir, toPath: old) }
            try fm.moveItem(atPath: tmp, toPath: dir)
        } catch {
            if !fm.fileExists(atPath: dir) { try? fm.moveItem(atPath: old, toPath: dir) }
            throw TrainingError.io(path: dir, reason: "cannot move the saved checkpoint into place: \(error.localizedDescription)")
        }
        try? fm.removeItem(atPath: old)
    }
}

func appendLine(_ line: String, to path: String) throws {
    guard let h = FileHandle(forWritingAtPath: path) else {
        try writeTextAtomically(line + "\n", to: path)
        return
    }
    do {
        try h.seekToEnd()
        try h.write(contentsOf: Data((line + "\n").utf8))
        try h.close()
    } catch {
        throw TrainingError.io(path: path, reason: "cannot append to the training log: \(error.localizedDescription) (disk full?)")
    }
}

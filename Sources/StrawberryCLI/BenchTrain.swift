// `strawberry bench train`: LoRA training throughput on a fixed configuration (r 16, α 32, q/k/v/o,
// batch 8 × 64 tokens, float32, loss on every position), optionally on the real spelling recipe
// (--data: completion-only, chat-formatted, length-bucketed), with the PyTorch + PEFT peer
// (bench/peers/train_peer.py) run side by side when installed.
import ArgumentParser
import Foundation
import Generation
import Models
import TensorCore
import Training

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "LoRA training steps/s, tokens/s, GFLOP/s and peak memory, against PyTorch + PEFT.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Sequences per step.")
    var batch = 8
    @Option(name: .long, help: "Tokens per sequence.")
    var seqLen = 64
    @Option(name: .long, help: "LoRA rank (alpha = 2 × rank).")
    var rank = 16
    @Option(name: .long, help: "Comma-separated LoRA targets, or all-linear.")
    var targets = "q_proj,k_proj,v_proj,o_proj"
    @Option(name: .long, help: "Timed steps (after one warm-up step).")
    var steps = 5
    @Option(name: .long, help: "Also time the real recipe on this dataset directory (completion-only, chat template) and report time per epoch.")
    var data: String?
    @Flag(name: .long, help: "Skip the PyTorch peer even if it is installed.")
    var noPeer = false
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let m = try modelOptions.load()
        guard let model = m.model as? any TrainableLM else { throw ValidationError("training is not implemented for this model") }
        let c = m.config
        let targetList = targets.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        let lora = try LoRAState(model: c, config: LoRAConfig(r: rank, alpha: Double(2 * rank), dropout: 0, targetModules: targetList), seed: 1)
        var rng = SplitMix64(seed: 7)
        let seqs = (0..<batch).map { _ in (0..<seqLen).map { _ in rng.below(c.vocabSize) } }
        let labels = seqs.map { s in (0..<s.count).map { $0 + 1 < s.count ? s[$0 + 1] : -100 } }
        let synthetic = TrainingBatch(sequences: seqs, labels: labels)
        let stepTime = try timeSteps(model, lora, [synthetic])

        let tokens = Double(batch * seqLen)
        let linearParams = Double(parameterCount(c))
        let attention = Double(c.layers * c.heads * batch) * 12 * Double(seqLen * seqLen * c.headDim)
        let flops = 4 * linearParams * tokens + attention
        var r: [String: Any] = [
            "model": m.path, "batch": batch, "seq_len": seqLen, "lora_rank": rank, "targets": targetList, "trainable_parameters": lora.parameterCount,
            "steps_per_second": 1 / stepTime, "tokens_per_second": tokens / stepTime, "gflops": flops / stepTime / 1e9,
            "sgemm_ceiling_gflops": sgemmCeilingGFLOPS(), "threads": BLAS.threads,
        ]
        if let data { r["recipe"] = try recipe(m, model, data) }
        r["peak_rss_bytes"] = peakRSSBytes()
        if !noPeer, let peer = runTrainPeer() { r["peer"] = peer }
        if json { try printJSON(r); return }
        report(r)
    }

    func timeSteps(_ model: any TrainableLM, _ start: LoRAState, _ batches: [TrainingBatch]) throws -> Double {
        var lora = start
        var opt = AdamW(parameters: lora.parameterCount)
        func one(_ b: TrainingBatch) throws {
            var grads: [Float]? = [Float](repeating: 0, count: lora.parameterCount)
            _ = try model.loss(b, lora: lora, lossScale: 1 / Float(max(b.targetCount, 1)), dropoutSeed: 0, grads: &grads)
            clipGradNorm(&grads!, maxNorm: 1)
            opt.update(&lora.values, grads: grads!, lr: 1e-4)
        }
        try one(batches[0])
        let t0 = now()
        for i in 0..<steps { try one(batches[i % batches.count]) }
        return (now() - t0) / Double(steps)
    }

    /// Step time on real, completion-only spelling batches, extrapolated to one epoch.
    func recipe(_ m: LoadedModel, _ model: any TrainableLM, _ dir: String) throws -> [String: Any] {
        var cfg = TrainConfig()
        cfg.model = m.path
        cfg.data = dir
        let encoder = try ExampleEncoder(model: m, config: cfg)
        let pairs = try TrainingData.readPairs(dir + "/train.jsonl")
        let sample = try pairs.prefix(batch * 40).map { try encoder.encode(prompt: $0.prompt, completion: $0.completion) }
        let order = TrainingData.epochBatches(count: sample.count, lengths: sample.map(\.ids.count), batchSize: batch, seed: 1, epoch: 0)
        let batches = order.map { idx in TrainingBatch(sequences: idx.map { sample[$0].ids }, labels: idx.map { sample[$0].labels }) }
        let lora = try LoRAState(model: m.config, config: LoRAConfig(r: rank, alpha: Double(2 * rank), dropout: 0,
                                                                      targetModules: targets.split(separator: ",").map(String.init)), seed: 1)
        let t = try timeSteps(model, lora, batches)
        let tokensPerStep = Double(batches.prefix(steps).reduce(0) { $0 + $1.tokenCount }) / Double(min(steps, batches.count))
        let stepsPerEpoch = (pairs.count + batch - 1) / batch
        return ["examples": pairs.count, "steps_per_epoch": stepsPerEpoch, "seconds_per_step": t, "tokens_per_second": tokensPerStep / t,
                "epoch_seconds": t * Double(stepsPerEpoch)]
    }

    func report(_ r: [String: Any]) {
        func f(_ k: String) -> Double { r[k] as? Double ?? 0 }
        let peer = r["peer"] as? [String: Any]
        print("LoRA r=\(rank) α=\(2 * rank) on \(targets), batch \(batch) × \(seqLen) tokens, float32, \(r["threads"]!) threads: \(r["trainable_parameters"]!) trainable parameters")
        func line(_ name: String, _ key: String, _ unit: String) {
            var s = name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%10.2f ", f(key)) + unit
            if let p = peer?[key] as? Double, p > 0 { s += String(format: "   PyTorch+PEFT %8.2f   ratio %.2f×", p, f(key) / p) }
            print(s)
        }
        line("steps/s", "steps_per_second", "")
        line("tokens/s", "tokens_per_second", "")
        print(String(format: "compute %.1f GFLOP/s (%.0f%% of this machine's SGEMM ceiling, %.1f GFLOP/s)", f("gflops"), 100 * f("gflops") / f("sgemm_ceiling_gflops"), f("sgemm_ceiling_gflops")))
        var mem = String(format: "peak memory %.0f MiB", Double(r["peak_rss_bytes"] as? Int ?? 0) / 1048576)
        if let p = peer?["peak_rss_bytes"] as? Int { mem += String(format: "   PyTorch+PEFT %.0f MiB", Double(p) / 1048576) }
        print(mem)
        if let rec = r["recipe"] as? [String: Any] {
            var s = String(format: "spelling recipe: %.2f s/step, %.0f tokens/s, one epoch (%d steps) ≈ %.1f min", rec["seconds_per_step"] as! Double,
                           rec["tokens_per_second"] as! Double, rec["steps_per_epoch"] as! Int, (rec["epoch_seconds"] as! Double) / 60)
            if let p = peer?["recipe"] as? [String: Any], let e = p["epoch_seconds"] as? Double {
                s += String(format: "   PyTorch+PEFT ≈ %.1f min (ratio %.2f×)", e / 60, e / (rec["epoch_seconds"] as! Double))
            }
            print(s)
        }
        if peer == nil { print("(PyTorch peer not run: pip install torch transformers peft gguf accelerate, or see bench/peers/train_peer.py)") }
    }

    func runTrainPeer() -> [String: Any]? {
        var args = ["--model", modelOptions.model, "--batch", "\(batch)", "--seq-len", "\(seqLen)", "--rank", "\(rank)",
                    "--targets", targets, "--steps", "\(steps)", "--threads", "\(BLAS.threads)"]
        if let data { args += ["--data", data] }
        return runPeerScript("train_peer.py", args)
    }
}

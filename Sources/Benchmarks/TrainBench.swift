// `strawberry bench train`: LoRA training throughput on a fixed configuration (r 16, α 32, q/k/v/o,
// batch 8 × 64 tokens, base weights float32 or bf16, loss on every position), optionally on the real spelling recipe
// (completion-only, chat-formatted, length-bucketed), timing the trainer's own step
// (TrainingStep) so the figure is what training runs. The PyTorch + PEFT peer
// (bench/peers/train_peer.py) runs side by side when installed, in float32 and under bf16 autocast.
import Adapters
import Foundation
import Models
import Records
import TensorCore
import Training

/// What `bench train` measures (its --json output).
public struct TrainBenchResult: Codable, Equatable, Sendable {
    public var model: String?
    public var batch: Int?
    public var seqLen: Int?
    public var loraRank: Int?
    public var targets: [String]?
    public var trainableParameters: Int?
    public var stepsPerSecond: Double?
    public var tokensPerSecond: Double?
    public var gflops: Double?
    public var sgemmCeilingGFLOPS: Double?
    /// How the frozen weights were held (f32 or bf16), and the product's ceiling with bf16 weights.
    public var precision: String?
    public var bf16CeilingGFLOPS: Double?
    /// The kernel products with bf16 weights ran on: "amx" (tile unit), "avx512-bf16" (dot products)
    /// or "sgemm" (widened to float32).
    public var bf16Kernel: String?
    /// The kernel set OpenBLAS ran (SGEMM's figures depend on it).
    public var blasCore: String?
    public var threads: Int?
    public var peakRSSBytes: Int?
    public var recipe: Recipe?
    /// PyTorch + PEFT measured in the same run, when installed (the same keys): float32, and under
    /// `torch.autocast("cpu", dtype=torch.bfloat16)`.
    public var peer: Peer?
    public var peerBF16: Peer?

    public struct Recipe: Codable, Equatable, Sendable {
        public var examples: Int?
        public var stepsPerEpoch: Int?
        public var secondsPerStep: Double?
        public var tokensPerSecond: Double?
        public var epochSeconds: Double?
        enum CodingKeys: String, CodingKey {
            case examples, stepsPerEpoch = "steps_per_epoch", secondsPerStep = "seconds_per_step", tokensPerSecond = "tokens_per_second"
            case epochSeconds = "epoch_seconds"
        }
    }

    public struct Peer: Codable, Equatable, Sendable {
        public var stepsPerSecond: Double?
        public var tokensPerSecond: Double?
        public var peakRSSBytes: Int?
        public var recipe: Recipe?
        /// PyTorch's version, and whether the peer ran under bf16 autocast.
        public var torch: String?
        public var autocast: String?
        enum CodingKeys: String, CodingKey {
            case stepsPerSecond = "steps_per_second", tokensPerSecond = "tokens_per_second", peakRSSBytes = "peak_rss_bytes", recipe, torch, autocast
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, batch, seqLen = "seq_len", loraRank = "lora_rank", targets, trainableParameters = "trainable_parameters"
        case stepsPerSecond = "steps_per_second", tokensPerSecond = "tokens_per_second", gflops, sgemmCeilingGFLOPS = "sgemm_ceiling_gflops"
        case threads, peakRSSBytes = "peak_rss_bytes", recipe, peer, precision, bf16CeilingGFLOPS = "bf16_ceiling_gflops"
        case peerBF16 = "peer_bf16", bf16Kernel = "bf16_kernel", blasCore = "blas_core"
    }
}

public struct TrainBench: Sendable {
    public var batch = 8
    public var seqLen = 64
    public var rank = 16
    public var targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    public var steps = 5
    /// How the frozen weights are held; the model must have been loaded that way.
    public var precision = TrainingPrecision.f32
    public init() {}

    var loraConfig: LoRAConfig { LoRAConfig(r: rank, alpha: Double(2 * rank), dropout: 0, targetModules: targets) }

    public func run(_ m: LoadedModel, recipeData: String? = nil) throws -> TrainBenchResult {
        guard let model = m.model as? any TrainableLM else {
            throw TrainingError.notTrainable(model: m.path, architecture: m.config.architecture.rawValue)
        }
        let c = m.config
        let lora = try LoRAState(model: c, config: loraConfig, seed: 1)
        var rng = SplitMix64(seed: 7)
        let seqs = (0..<batch).map { _ in (0..<seqLen).map { _ in rng.below(c.vocabSize) } }
        let labels = seqs.map { s in (0..<s.count).map { $0 + 1 < s.count ? s[$0 + 1] : -100 } }
        let stepTime = try timeSteps(model, lora, [TrainingBatch(sequences: seqs, labels: labels)])

        let tokens = Double(batch * seqLen)
        let linearParams = Double(c.architecture.descriptor.parameterCount(c))
        let attention = Double(c.layers * c.heads * batch) * 12 * Double(seqLen * seqLen * c.headDim)
        var r = TrainBenchResult()
        r.model = m.path; r.batch = batch; r.seqLen = seqLen; r.loraRank = rank; r.targets = targets
        r.trainableParameters = lora.parameterCount
        r.stepsPerSecond = 1 / stepTime
        r.tokensPerSecond = tokens / stepTime
        r.gflops = (4 * linearParams * tokens + attention) / stepTime / 1e9
        r.sgemmCeilingGFLOPS = sgemmCeilingGFLOPS()
        r.bf16CeilingGFLOPS = sgemmCeilingGFLOPS(bf16: true)
        r.precision = precision.rawValue
        r.bf16Kernel = QuantizedKernels.bf16Kernel.name
        r.blasCore = BLAS.core
        r.threads = BLAS.threads
        if let recipeData { r.recipe = try recipe(m, model, recipeData) }
        r.peakRSSBytes = peakRSSBytes()
        return r
    }

    /// Seconds per optimizer step (after one warm-up step), cycling through `batches`.
    func timeSteps(_ model: any TrainableLM, _ start: LoRAState, _ batches: [TrainingBatch]) throws -> Double {
        guard let first = batches.first else { throw BenchError.badInput("no training batches to time") }
        var lora = start
        var opt = AdamW(parameters: lora.parameterCount)
        func one(_ b: TrainingBatch) throws {
            _ = try TrainingStep.run(model, lora: &lora, optimizer: &opt, microBatches: [b], learningRate: 1e-4, maxGradNorm: 1, dropoutSeed: { _ in 0 })
        }
        try one(first)
        let t0 = now()
        for i in 0..<steps { try one(batches[i % batches.count]) }
        return (now() - t0) / Double(max(steps, 1))
    }

    /// Step time on real, completion-only spelling batches, extrapolated to one epoch.
    func recipe(_ m: LoadedModel, _ model: any TrainableLM, _ dir: String) throws -> TrainBenchResult.Recipe {
        var cfg = TrainConfig()
        cfg.model = m.path
        cfg.data = dir
        let encoder = try ExampleEncoder(model: m, config: cfg)
        let pairs = try TrainingData.readPairs(dir + "/train.jsonl")
        let sample = try pairs.prefix(batch * 40).map { try encoder.encode(prompt: $0.prompt, completion: $0.completion) }
        let order = TrainingData.epochBatches(count: sample.count, lengths: sample.map(\.ids.count), batchSize: batch, seed: 1, epoch: 0)
        let batches = order.map { idx in TrainingBatch(sequences: idx.map { sample[$0].ids }, labels: idx.map { sample[$0].labels }) }
        let t = try timeSteps(model, try LoRAState(model: m.config, config: loraConfig, seed: 1), batches)
        let timed = max(1, min(steps, batches.count))
        let tokensPerStep = Double(batches.prefix(timed).reduce(0) { $0 + $1.tokenCount }) / Double(timed)
        let stepsPerEpoch = (pairs.count + batch - 1) / batch
        return TrainBenchResult.Recipe(examples: pairs.count, stepsPerEpoch: stepsPerEpoch, secondsPerStep: t, tokensPerSecond: tokensPerStep / t,
                                       epochSeconds: t * Double(stepsPerEpoch))
    }

    public func report(_ r: TrainBenchResult) -> [String] {
        var out = ["LoRA r=\(rank) α=\(2 * rank) on \(targets.joined(separator: ",")), batch \(batch) × \(seqLen) tokens, base weights \(precision.rawValue), \(r.threads ?? 0) threads: \(r.trainableParameters ?? 0) trainable parameters"]
        let peers = [("PyTorch+PEFT f32", r.peer), ("bf16 autocast", r.peerBF16)].compactMap { name, p in p.map { (name, $0) } }
        func line(_ name: String, _ ours: Double?, _ theirs: (TrainBenchResult.Peer) -> Double?) {
            var s = name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%10.2f ", ours ?? 0)
            for (peer, p) in peers { if let v = theirs(p), v > 0 { s += "   \(peer) " + String(format: "%8.2f (%.2f×)", v, (ours ?? 0) / v) } }
            out.append(s)
        }
        line("steps/s", r.stepsPerSecond) { $0.stepsPerSecond }
        line("tokens/s", r.tokensPerSecond) { $0.tokensPerSecond }
        let g = r.gflops ?? 0, ceiling = (precision == .bf16 ? r.bf16CeilingGFLOPS : r.sgemmCeilingGFLOPS) ?? 0
        out.append(String(format: "compute %.1f GFLOP/s (%.0f%% of this machine's ", g, ceiling > 0 ? 100 * g / ceiling : 0) + precision.rawValue
                   + String(format: " ceiling, %.1f GFLOP/s; SGEMM %.1f, bf16 weights %.1f on ", ceiling, r.sgemmCeilingGFLOPS ?? 0, r.bf16CeilingGFLOPS ?? 0)
                   + (QuantizedKernels.BF16Kernel(name: r.bf16Kernel ?? "") ?? .sgemm).label + "; OpenBLAS \(r.blasCore ?? "?") kernels)")
        var mem = String(format: "peak memory %.0f MiB", Double(r.peakRSSBytes ?? 0) / 1048576)
        for (peer, p) in peers { if let b = p.peakRSSBytes { mem += "   \(peer) " + String(format: "%.0f MiB", Double(b) / 1048576) } }
        out.append(mem)
        if let rec = r.recipe, let e = rec.epochSeconds {
            var s = String(format: "spelling recipe: %.2f s/step, %.0f tokens/s, one epoch (%d steps) ≈ %.1f min", rec.secondsPerStep ?? 0,
                           rec.tokensPerSecond ?? 0, rec.stepsPerEpoch ?? 0, e / 60)
            for (peer, p) in peers { if let pe = p.recipe?.epochSeconds { s += "   \(peer) " + String(format: "≈ %.1f min (%.2f×)", pe / 60, pe / e) } }
            out.append(s)
        }
        if r.peer == nil { out.append("(PyTorch peer not run: pip install torch transformers peft gguf accelerate, or see bench/peers/train_peer.py)") }
        return out
    }
}

// `strawberry bench generate` and `strawberry bench train`: flags to the Benchmarks library.
import ArgumentParser
import Benchmarks
import Foundation
import TensorCore
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks (speed is measured here, never in tests).",
                                                    subcommands: [BenchGenerate.self, BenchTrain.self])
}

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Prefill tokens/s (all logits and last-only), decode tokens/s (batch 1, KV cache), batched decode tokens/s, peak memory.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Prompt length for the prefill measurement (16...100000).")
    var promptTokens = 512
    @Option(name: .long, help: "New tokens per sequence for the decode measurements (1...100000).")
    var newTokens = 128
    @Option(name: .long, help: "Sequences decoded together for the batched measurement (1...1024).")
    var batch = 16
    @Option(name: .long, help: "Repetitions of each measurement, 1...100 (the best is reported).")
    var repeats = 2
    @Option(name: .long, help: ArgumentHelp("With --weights native: interleaved (default: Q4_0/Q4_1/Q8_0 eight rows at a time), rowwise (int8 dot products row by row, the file's layout) or dequantize (rows to float32 on the fly), to measure one against another.", valueName: "interleaved|rowwise|dequantize"))
    var quantizedKernel: QuantizedKernels.Choice = .interleaved
    @Option(name: .long, help: ArgumentHelp("Decode's attention: parallel (default: heads on the thread pool once a call has enough work) or serial (the calling thread), to measure one against the other.", valueName: "parallel|serial"))
    var attention: AttentionKernels.Choice = .parallel
    @Flag(name: .long, help: "Skip the peers (PyTorch, llama.cpp) even if they are installed.")
    var noPeer = false
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (16...100_000).contains(promptTokens) else { throw ValidationError("--prompt-tokens must be in 16...100000") }
        guard (1...100_000).contains(newTokens) else { throw ValidationError("--new-tokens must be in 1...100000") }
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must be in 1...1024") }
        guard (1...100).contains(repeats) else { throw ValidationError("--repeats must be in 1...100") }
    }

    func run() throws {
        QuantizedKernels.use(quantizedKernel)
        let m = try modelOptions.load()
        var b = GenerateBench()
        b.promptTokens = promptTokens; b.newTokens = newTokens; b.batch = batch; b.repeats = repeats
        b.weights = modelOptions.precision.rawValue
        b.kernel = modelOptions.precision == .f32 ? nil : quantizedKernel.rawValue
        b.attention = attention
        var r = try b.run(m)
        if !noPeer {
            let local = try modelOptions.local().model
            r.peer = runPeerScript("generate_peer.py", ["--model", local, "--prompt-tokens", "\(promptTokens)", "--new-tokens", "\(newTokens)",
                                                        "--batch", "\(batch)", "--threads", "\(BLAS.threads)"], as: GenerateBenchResult.Peer.self)
            if local.hasSuffix(".gguf") {
                r.llamaCpp = runPeerScript("llamacpp_peer.py", ["--model", local, "--prompt-tokens", "\(promptTokens)", "--new-tokens", "\(newTokens)",
                                                                "--threads", "\(BLAS.threads)", "--repeats", "\(repeats)"], as: GenerateBenchResult.LlamaCppPeer.self)
            }
        }
        if json { try printJSON(r); return }
        GenerateBench.report(r).forEach { print($0) }
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "LoRA training steps/s, tokens/s, GFLOP/s and peak memory, against PyTorch + PEFT.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Sequences per step (1...1024).")
    var batch = 8
    @Option(name: .long, help: "Tokens per sequence (2...100000).")
    var seqLen = 64
    @Option(name: .long, help: "LoRA rank, 1...4096 (alpha = 2 × rank).")
    var rank = 16
    @Option(name: .long, help: "Comma-separated LoRA targets, or all-linear.")
    var targets = "q_proj,k_proj,v_proj,o_proj"
    @Option(name: .long, help: "Timed steps, 1...10000 (after one warm-up step).")
    var steps = 5
    @Option(name: .long, help: "Also time the real recipe on this dataset directory (completion-only, chat template) and report time per epoch.")
    var data: String?
    @Option(name: .long, help: ArgumentHelp("How the frozen base weights are held: f32, or bf16 (training's `precision: bf16`).", valueName: "f32|bf16"))
    var precision = TrainingPrecision.f32
    @Option(name: .long, help: ArgumentHelp("Products with bf16 weights: the best this CPU has of amx (the tile unit, AMX-BF16), avx512-bf16 (vdpbf16ps dot products) and sgemm (widened to float32 in panels), up to the one named.", valueName: "amx|avx512-bf16|sgemm"))
    var bf16Kernel = "amx"
    @Flag(name: .long, help: "Skip the PyTorch peer (float32 and bf16 autocast) even if it is installed.")
    var noPeer = false
    @Option(name: .long, help: ArgumentHelp("Which PyTorch peers run: float32, bf16 autocast, or both (bf16 autocast is emulated, and very slow, on CPUs without AVX-512 BF16).", valueName: "f32|bf16|both"))
    var peerPrecision = "both"
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard ["f32", "bf16", "both"].contains(peerPrecision) else { throw ValidationError("--peer-precision must be f32, bf16 or both") }
        guard QuantizedKernels.BF16Kernel(name: bf16Kernel) != nil else {
            throw ValidationError("--bf16-kernel must be amx, avx512-bf16 or sgemm")
        }
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must be in 1...1024") }
        guard (2...100_000).contains(seqLen) else { throw ValidationError("--seq-len must be in 2...100000") }
        guard (1...4096).contains(rank) else { throw ValidationError("--rank must be in 1...4096") }
        guard (1...10_000).contains(steps) else { throw ValidationError("--steps must be in 1...10000") }
    }

    func run() throws {
        guard modelOptions.precision == .f32 else {
            throw ValidationError("LoRA training holds its base weights as --precision says (f32 or bf16); --weights and --quantize apply to inference (generate, eval, serve, bench generate)")
        }
        let limit = QuantizedKernels.BF16Kernel(name: bf16Kernel) ?? .amx
        QuantizedKernels.limitBF16(to: limit)
        if precision == .bf16 && QuantizedKernels.bf16Kernel != limit {
            FileHandle.standardError.write(Data("note: no \(limit.name) kernel on this CPU (or turned off by STRAWBERRY_NO_AMX / STRAWBERRY_NO_AVX512_BF16): bf16 products run on \(QuantizedKernels.bf16Kernel.name)\n".utf8))
        }
        var options = modelOptions
        options.weights = precision.weights
        let m = try options.load()
        var b = TrainBench()
        b.batch = batch; b.seqLen = seqLen; b.rank = rank; b.steps = steps; b.precision = precision
        b.targets = targets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var r = try b.run(m, recipeData: data)
        if !noPeer {
            var args = ["--model", modelOptions.model, "--batch", "\(batch)", "--seq-len", "\(seqLen)", "--rank", "\(rank)",
                        "--targets", targets, "--steps", "\(steps)", "--threads", "\(BLAS.threads)"]
            if let data { args += ["--data", data] }
            if peerPrecision != "bf16" { r.peer = runPeerScript("train_peer.py", args, as: TrainBenchResult.Peer.self) }
            if peerPrecision != "f32" { r.peerBF16 = runPeerScript("train_peer.py", args + ["--autocast", "bf16"], as: TrainBenchResult.Peer.self) }
        }
        if json { try printJSON(r); return }
        b.report(r).forEach { print($0) }
    }
}

extension QuantizedKernels.Choice: ExpressibleByArgument {}
extension TrainingPrecision: ExpressibleByArgument {}
extension AttentionKernels.Choice: ExpressibleByArgument {}

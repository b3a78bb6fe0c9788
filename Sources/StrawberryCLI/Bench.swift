// `strawberry bench generate`: prefill, decode and batched-decode throughput with peak memory,
// side by side with PyTorch/transformers (bench/peers/generate_peer.py) when it is installed.
import ArgumentParser
import Foundation
import Generation
import Models
import TensorCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks (speed is measured here, never in tests).",
                                                    subcommands: [BenchGenerate.self, BenchTrain.self])
}

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Prefill tokens/s (all logits and last-only), decode tokens/s (batch 1, KV cache), batched decode tokens/s, peak memory.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Prompt length for the prefill measurement.")
    var promptTokens = 512
    @Option(name: .long, help: "New tokens per sequence for the decode measurements.")
    var newTokens = 128
    @Option(name: .long, help: "Sequences decoded together for the batched measurement.")
    var batch = 16
    @Option(name: .long, help: "Repetitions of each measurement (the best is reported).")
    var repeats = 2
    @Flag(name: .long, help: "Skip the PyTorch peer even if it is installed.")
    var noPeer = false
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let m = try modelOptions.load()
        let c = m.config
        let model = m.model
        // A deterministic prompt of ordinary text ids, cycled to the wanted length.
        let base = m.tokenizer.encode(String(repeating: "The quick brown fox jumps over the lazy dog while counting the letters of strawberry. ", count: 64))
        let prompt = Array((0..<promptTokens).map { base[$0 % base.count] })

        func best(_ body: () throws -> Double) rethrows -> Double { try (0..<max(repeats, 1)).map { _ in try body() }.min()! }
        let prefillAll = try best {
            let t0 = now(); _ = try model.forward(ForwardBatch(tokens: prompt), cache: model.makeCache(), logits: .all); return now() - t0
        }
        let prefillLast = try best {
            let t0 = now(); _ = try model.forward(ForwardBatch(tokens: prompt), cache: model.makeCache(), logits: .last); return now() - t0
        }
        let decode = try best {
            let cache = model.makeCache()
            var logits = try model.forward(ForwardBatch(tokens: Array(prompt.prefix(16))), cache: cache, logits: .last).storage
            let t0 = now()
            for _ in 0..<newTokens {
                logits = try model.forward(ForwardBatch(tokens: [argmax(logits)]), cache: cache, logits: .last).storage
            }
            return now() - t0
        }
        let batched = try best {
            let cache = model.makeCache(slots: batch)
            let starts = (0..<batch).map { Array(prompt[($0 * 7)..<($0 * 7 + 16)]) }
            var logits = try model.forward(ForwardBatch(starts.enumerated().map { .init(slot: $0.offset, tokens: $0.element) }), cache: cache, logits: .last)
            let t0 = now()
            for _ in 0..<newTokens {
                let next = (0..<batch).map { ForwardBatch.Sequence(slot: $0, tokens: [argmax(logits.row($0))]) }
                logits = try model.forward(ForwardBatch(next), cache: cache, logits: .last)
            }
            return now() - t0
        }

        let params = parameterCount(c)
        let weightBytes = Double(params) * 4
        var r: [String: Any] = [
            "model": m.path, "threads": BLAS.threads, "simd": simdKernelsActive ? "avx2" : "portable",
            "prompt_tokens": promptTokens, "new_tokens": newTokens, "batch": batch, "parameters": params,
            "prefill_tokens_per_second": Double(promptTokens) / prefillAll,
            "prefill_last_logits_tokens_per_second": Double(promptTokens) / prefillLast,
            "decode_tokens_per_second": Double(newTokens) / decode,
            "batched_decode_tokens_per_second": Double(newTokens * batch) / batched,
            "prefill_gflops": 2 * Double(params) * Double(promptTokens) / prefillAll / 1e9,
            "decode_gb_per_second": weightBytes * Double(newTokens) / decode / 1e9,
            "peak_rss_bytes": peakRSSBytes(),
            "sgemm_ceiling_gflops": sgemmCeilingGFLOPS(),
        ]
        if !noPeer, let peer = runPeer() { r["peer"] = peer }
        if json { try printJSON(r); return }
        report(r)
    }

    func report(_ r: [String: Any]) {
        func f(_ k: String) -> Double { r[k] as? Double ?? 0 }
        let peer = r["peer"] as? [String: Any]
        func line(_ name: String, _ key: String, _ unit: String = "tokens/s") {
            var s = name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%9.1f ", f(key)) + unit
            if let p = peer?[key] as? Double, p > 0 { s += String(format: "   PyTorch %8.1f   ratio %.2f×", p, f(key) / p) }
            print(s)
        }
        print("model \(r["model"]!)  (\(r["parameters"]!) parameters, float32, \(r["threads"]!) BLAS threads, \(r["simd"]!) kernels)")
        line("prefill \(promptTokens) tokens (all logits)", "prefill_tokens_per_second")
        line("prefill (last-position logits)", "prefill_last_logits_tokens_per_second")
        line("decode, batch 1, KV cache", "decode_tokens_per_second")
        line("batched decode, batch \(batch)", "batched_decode_tokens_per_second")
        print(String(format: "prefill compute %.1f GFLOP/s (%.0f%% of this machine's SGEMM ceiling, %.1f GFLOP/s measured now)",
                     f("prefill_gflops"), 100 * f("prefill_gflops") / f("sgemm_ceiling_gflops"), f("sgemm_ceiling_gflops")))
        print(String(format: "decode weight traffic %.1f GB/s (float32 weights read once per token)", f("decode_gb_per_second")))
        var mem = String(format: "peak memory %.0f MiB", Double(r["peak_rss_bytes"] as? Int ?? 0) / 1048576)
        if let p = peer?["peak_rss_bytes"] as? Int { mem += String(format: "   PyTorch %.0f MiB", Double(p) / 1048576) }
        print(mem)
        if peer == nil { print("(PyTorch peer not run: install torch+transformers+gguf, or see bench/peers/generate_peer.py)") }
    }

    /// Runs bench/peers/generate_peer.py with the same model and sizes; nil when Python/torch is absent.
    func runPeer() -> [String: Any]? {
        runPeerScript("generate_peer.py", ["--model", modelOptions.model, "--prompt-tokens", "\(promptTokens)",
                                           "--new-tokens", "\(newTokens)", "--batch", "\(batch)", "--threads", "\(BLAS.threads)"])
    }
}

/// Runs a bench/peers/ script with python3 and parses the JSON object it prints; nil when the script,
/// Python or its packages are missing (the bench then reports Strawberry's figures alone).
func runPeerScript(_ name: String, _ args: [String]) -> [String: Any]? {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("../../bench/peers/" + name).standardized.path
    let path = FileManager.default.fileExists(atPath: beside) ? beside : "bench/peers/" + name
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", path] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.standardError
    do { try p.run() } catch { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return nil }
    return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
}

/// SGEMM throughput on a prefill-shaped product (512 × 1536 × 576), best of five.
func sgemmCeilingGFLOPS() -> Double {
    let M = 512, N = 1536, K = 576
    let a = Tensor(shape: [M, K], storage: (0..<(M * K)).map { Float($0 % 13) * 0.01 })
    let b = Tensor(shape: [N, K], storage: (0..<(N * K)).map { Float($0 % 7) * 0.01 })
    var best = Double.infinity
    for _ in 0..<5 {
        let t0 = now()
        _ = matmul(a, b, transposeB: true)
        best = min(best, now() - t0)
    }
    return 2 * Double(M * N * K) / best / 1e9
}

func parameterCount(_ c: ModelConfig) -> Int {
    let attn = c.hidden * (c.qDim + 2 * c.kvDim) + c.qDim * c.hidden
    let mlp = (c.architecture == .gpt2 ? 2 : 3) * c.hidden * c.intermediate
    // Every token also streams the [V, C] LM head.
    return c.layers * (attn + mlp) + c.vocabSize * c.hidden
}

/// Peak resident set size (VmHWM) of this process.
func peakRSSBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
    return 0
}

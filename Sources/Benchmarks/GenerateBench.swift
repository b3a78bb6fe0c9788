// `strawberry bench generate`: prefill, decode and batched-decode throughput with peak memory,
// side by side with PyTorch/transformers (bench/peers/generate_peer.py) and llama.cpp
// (bench/peers/llamacpp_peer.py, through llama-cpp-python) when they are installed, and a
// roofline account: bytes read per decoded token against the measured read bandwidth, prefill
// FLOP/s against the measured SGEMM ceiling. Speed is measured here, never in tests.
import CKernels
import Foundation
import Generation
import Models
import Records
import TensorCore

/// What `bench generate` measures (its --json output). The peer's figures use the same keys.
public struct GenerateBenchResult: Codable, Equatable, Sendable {
    public var model: String?
    public var threads: Int?
    public var simd: String?
    public var promptTokens: Int?
    public var newTokens: Int?
    public var batch: Int?
    public var parameters: Int?
    public var prefillTokensPerSecond: Double?
    public var prefillLastLogitsTokensPerSecond: Double?
    public var decodeTokensPerSecond: Double?
    public var batchedDecodeTokensPerSecond: Double?
    public var prefillGFLOPS: Double?
    public var decodeGBPerSecond: Double?
    public var peakRSSBytes: Int?
    public var sgemmCeilingGFLOPS: Double?
    /// How the weights sat in memory (f32, native, q8_0) and their bytes: what one decoded token reads.
    public var weights: String?
    /// The quantised kernel measured (interleaved, rowwise, dequantize), for quantised weights.
    public var kernel: String?
    /// Decode's attention: heads on the thread pool (parallel) or on the calling thread (serial).
    public var attention: String?
    public var weightBytes: Int?
    /// Read bandwidth measured in the same run (all threads streaming a 512 MiB buffer).
    public var memoryBandwidthGBPerSecond: Double?
    /// PyTorch/transformers measured in the same run, when installed.
    public var peer: Peer?
    /// llama.cpp on the same GGUF in the same run, when llama-cpp-python is installed.
    public var llamaCpp: LlamaCppPeer?

    public struct LlamaCppPeer: Codable, Equatable, Sendable {
        public var prefillLastLogitsTokensPerSecond: Double?
        public var decodeTokensPerSecond: Double?
        public var peakRSSBytes: Int?
        public var version: String?
        public var threads: Int?
        enum CodingKeys: String, CodingKey {
            case version = "llama_cpp_python", threads
            case prefillLastLogitsTokensPerSecond = "prefill_last_logits_tokens_per_second", decodeTokensPerSecond = "decode_tokens_per_second"
            case peakRSSBytes = "peak_rss_bytes"
        }
    }

    /// The peer script's output (a subset of the same keys).
    public struct Peer: Codable, Equatable, Sendable {
        public var prefillTokensPerSecond: Double?
        public var prefillLastLogitsTokensPerSecond: Double?
        public var decodeTokensPerSecond: Double?
        public var batchedDecodeTokensPerSecond: Double?
        public var peakRSSBytes: Int?
        /// PyTorch's version and the threads it ran with.
        public var torch: String?
        public var threads: Int?
        enum CodingKeys: String, CodingKey {
            case torch, threads
            case prefillTokensPerSecond = "prefill_tokens_per_second", prefillLastLogitsTokensPerSecond = "prefill_last_logits_tokens_per_second"
            case decodeTokensPerSecond = "decode_tokens_per_second", batchedDecodeTokensPerSecond = "batched_decode_tokens_per_second"
            case peakRSSBytes = "peak_rss_bytes"
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, threads, simd, promptTokens = "prompt_tokens", newTokens = "new_tokens", batch, parameters
        case prefillTokensPerSecond = "prefill_tokens_per_second", prefillLastLogitsTokensPerSecond = "prefill_last_logits_tokens_per_second"
        case decodeTokensPerSecond = "decode_tokens_per_second", batchedDecodeTokensPerSecond = "batched_decode_tokens_per_second"
        case prefillGFLOPS = "prefill_gflops", decodeGBPerSecond = "decode_gb_per_second", peakRSSBytes = "peak_rss_bytes"
        case sgemmCeilingGFLOPS = "sgemm_ceiling_gflops", peer, weights, kernel, weightBytes = "weight_bytes", attention
        case memoryBandwidthGBPerSecond = "memory_bandwidth_gb_per_second", llamaCpp = "llama_cpp"
    }
}

public struct GenerateBench: Sendable {
    public var promptTokens = 512
    public var newTokens = 128
    public var batch = 16
    public var repeats = 2
    /// The --weights the model was loaded with (reported).
    public var weights = "f32"
    /// Decode's attention kernel (set process-wide for the run).
    public var attention = AttentionKernels.Choice.parallel
    public var kernel: String?
    public init() {}

    public func run(_ m: LoadedModel) throws -> GenerateBenchResult {
        let model = m.model
        AttentionKernels.use(attention)
        defer { AttentionKernels.use(.parallel) }
        // A deterministic prompt of ordinary text ids, cycled to the wanted length.
        let base = m.tokenizer.encode(String(repeating: "The quick brown fox jumps over the lazy dog while counting the letters of strawberry. ", count: 64))
        guard !base.isEmpty else { throw BenchError.badInput("the tokenizer encodes the benchmark text to nothing") }
        let prompt = (0..<promptTokens).map { base[$0 % base.count] }
        let starts = (0..<batch).map { b in (0..<16).map { prompt[(b * 7 + $0) % prompt.count] } }

        func best(_ body: () throws -> Double) rethrows -> Double {
            var t = Double.infinity
            for _ in 0..<max(repeats, 1) { t = min(t, try body()) }
            return t
        }
        let prefillAll = try best {
            let t0 = now(); _ = try model.forward(ForwardBatch(tokens: prompt), cache: model.makeCache(), logits: .all); return now() - t0
        }
        let prefillLast = try best {
            let t0 = now(); _ = try model.forward(ForwardBatch(tokens: prompt), cache: model.makeCache(), logits: .last); return now() - t0
        }
        let decode = try best {
            let cache = model.makeCache()
            var logits = try model.forward(ForwardBatch(tokens: starts[0]), cache: cache, logits: .last).storage
            let t0 = now()
            for _ in 0..<newTokens { logits = try model.forward(ForwardBatch(tokens: [argmax(logits)]), cache: cache, logits: .last).storage }
            return now() - t0
        }
        let batched = try best {
            let cache = model.makeCache(slots: batch)
            var logits = try model.forward(ForwardBatch(starts.enumerated().map { .init(slot: $0.offset, tokens: $0.element) }), cache: cache, logits: .last)
            let t0 = now()
            for _ in 0..<newTokens {
                let next = (0..<batch).map { ForwardBatch.Sequence(slot: $0, tokens: [argmax(logits.row($0))]) }
                logits = try model.forward(ForwardBatch(next), cache: cache, logits: .last)
            }
            return now() - t0
        }
        let params = m.config.architecture.descriptor.parameterCount(m.config)
        var r = GenerateBenchResult()
        r.model = m.path; r.threads = BLAS.threads; r.simd = simdKernelsDescription
        r.promptTokens = promptTokens; r.newTokens = newTokens; r.batch = batch; r.parameters = params
        r.prefillTokensPerSecond = Double(promptTokens) / prefillAll
        r.prefillLastLogitsTokensPerSecond = Double(promptTokens) / prefillLast
        r.decodeTokensPerSecond = Double(newTokens) / decode
        r.batchedDecodeTokensPerSecond = Double(newTokens * batch) / batched
        r.prefillGFLOPS = 2 * Double(params) * Double(promptTokens) / prefillAll / 1e9
        let bytes = model.matrices().reduce(0) { $0 + $1.bytesInMemory }
        r.weights = weights
        r.kernel = kernel
        r.attention = attention.rawValue
        r.weightBytes = bytes
        r.decodeGBPerSecond = Double(bytes) * Double(newTokens) / decode / 1e9
        r.peakRSSBytes = peakRSSBytes()
        r.sgemmCeilingGFLOPS = sgemmCeilingGFLOPS()
        r.memoryBandwidthGBPerSecond = readBandwidthGBPerSecond()
        return r
    }

    /// The terminal report, with the peer's figures and ratios beside ours.
    public static func report(_ r: GenerateBenchResult) -> [String] {
        var out: [String] = []
        func line(_ name: String, _ ours: Double?, _ torch: Double?, _ llama: Double? = nil) {
            var s = name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%9.1f tokens/s", ours ?? 0)
            if let p = torch, p > 0 { s += String(format: "   PyTorch %8.1f (%.2f×)", p, (ours ?? 0) / p) }
            if let p = llama, p > 0 { s += String(format: "   llama.cpp %8.1f (%.2f×)", p, (ours ?? 0) / p) }
            out.append(s)
        }
        out.append("model \(r.model ?? "?")  (\(r.parameters ?? 0) parameters, weights \(r.weights ?? "f32")\(r.kernel.map { " (\($0) kernel)" } ?? ""), \(r.threads ?? 0) threads, \(r.simd ?? "?") kernels)")
        line("prefill \(r.promptTokens ?? 0) tokens (all logits)", r.prefillTokensPerSecond, r.peer?.prefillTokensPerSecond)
        line("prefill (last-position logits)", r.prefillLastLogitsTokensPerSecond, r.peer?.prefillLastLogitsTokensPerSecond, r.llamaCpp?.prefillLastLogitsTokensPerSecond)
        line("decode, batch 1, KV cache", r.decodeTokensPerSecond, r.peer?.decodeTokensPerSecond, r.llamaCpp?.decodeTokensPerSecond)
        line("batched decode, batch \(r.batch ?? 0)", r.batchedDecodeTokensPerSecond, r.peer?.batchedDecodeTokensPerSecond)
        let g = r.prefillGFLOPS ?? 0, ceiling = r.sgemmCeilingGFLOPS ?? 0
        out.append(String(format: "prefill compute %.1f GFLOP/s (%.0f%% of this machine's SGEMM ceiling, %.1f GFLOP/s measured now)",
                          g, ceiling > 0 ? 100 * g / ceiling : 0, ceiling))
        let bw = r.memoryBandwidthGBPerSecond ?? 0, traffic = r.decodeGBPerSecond ?? 0
        out.append(String(format: "decode reads %.1f MB of weights per token: %.1f GB/s, %.0f%% of the %.1f GB/s read bandwidth measured now",
                          Double(r.weightBytes ?? 0) / 1e6, traffic, bw > 0 ? 100 * traffic / bw : 0, bw))
        var mem = String(format: "peak memory %.0f MiB", Double(r.peakRSSBytes ?? 0) / 1048576)
        if let p = r.peer?.peakRSSBytes { mem += String(format: "   PyTorch %.0f MiB", Double(p) / 1048576) }
        if let p = r.llamaCpp?.peakRSSBytes { mem += String(format: "   llama.cpp %.0f MiB", Double(p) / 1048576) }
        out.append(mem)
        if r.peer == nil { out.append("(PyTorch peer not run: install torch+transformers+gguf, or see bench/peers/generate_peer.py)") }
        if r.llamaCpp == nil { out.append("(llama.cpp peer not run: a GGUF model and llama-cpp-python are needed, see bench/peers/llamacpp_peer.py)") }
        return out
    }
}

public enum BenchError: Error, Equatable, CustomStringConvertible {
    case badInput(String)
    public var description: String { switch self { case .badInput(let s): return s } }
}

/// Runs a bench/peers/ script with python3 and decodes the JSON object it prints; nil when the
/// script, Python or its packages are missing (the bench then reports Strawberry's figures alone).
public func runPeerScript<T: Decodable>(_ name: String, _ args: [String], as: T.Type) -> T? {
    let beside = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent()
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
    return try? RecordFile.decode(T.self, data, path: name, line: nil)
}

/// SGEMM throughput on a prefill-shaped product (512 × 1536 × 576), best of five; with `bf16`, the
/// same product with the weight held in bf16 (what training's `precision: bf16` runs).
public func sgemmCeilingGFLOPS(bf16: Bool = false) -> Double {
    let M = 512, N = 1536, K = 576
    let a = Tensor(shape: [M, K], storage: (0..<(M * K)).map { Float($0 % 13) * 0.01 })
    let b = Tensor(shape: [N, K], storage: (0..<(N * K)).map { Float($0 % 7) * 0.01 })
    let w: WeightMatrix = bf16 ? QuantizedMatrix.bf16(b).map { .quantized($0) } ?? .dense(b) : .dense(b)
    var best = Double.infinity
    for _ in 0..<5 {
        let t0 = now()
        _ = linear(a, w)
        best = min(best, now() - t0)
    }
    return 2 * Double(M * N * K) / best / 1e9
}

/// Read bandwidth with every thread streaming its share of a 512 MiB buffer, best of three.
public func readBandwidthGBPerSecond() -> Double {
    let n = 128 << 20
    let x = [Float](repeating: 1, count: n)
    var best = Double.infinity, sink: Float = 0
    x.withUnsafeBufferPointer { p in
        for _ in 0..<3 {
            let t0 = now()
            sink += sb_stream_sum(p.baseAddress!, Int64(n))
            best = min(best, now() - t0)
        }
    }
    precondition(sink > 0, "the stream sum is used so the reads are not optimised away")
    return Double(n * 4) / best / 1e9
}

/// Peak resident set size (VmHWM) of this process.
public func peakRSSBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
    return 0
}

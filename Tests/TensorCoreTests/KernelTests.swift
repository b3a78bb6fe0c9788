// Every op against a float64 reference computed here, on both kernel paths (AVX2/FMA and the
// portable fallback), with odd sizes so vector tails are exercised. Tolerance: 1e-5 relative.
import CKernels
import Foundation
import TensorCore
import TestSupport
import XCTest

final class KernelTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()
    func random(_ n: Int, seed: Int) -> [Float] {
        var s = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<n).map { _ in s ^= s << 13; s ^= s >> 7; s ^= s << 17; return Float(Double(s % 20001) / 5000 - 2) }
    }

    func bothPaths(_ body: (Bool) throws -> Void) rethrows {
        defer { sb_force_portable(0) }
        for portable in [false, true] { sb_force_portable(portable ? 1 : 0); try body(portable) }
    }

    func testNormsAndActivations() {
        let rows = 3, n = 37
        let x = Tensor(shape: [rows, n], storage: random(rows * n, seed: 1))
        let w = Tensor(shape: [n], storage: random(n, seed: 2)), b = Tensor(shape: [n], storage: random(n, seed: 3))
        bothPaths { portable in
            var ref = [Float](), lref = [Float]()
            for r in 0..<rows {
                let v = x.row(r).map(Double.init)
                let ms = v.map { $0 * $0 }.reduce(0, +) / Double(n)
                ref += (0..<n).map { Float(v[$0] / (ms + 1e-5).squareRoot() * Double(w.storage[$0])) }
                let mean = v.reduce(0, +) / Double(n), vr = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
                lref += (0..<n).map { Float((v[$0] - mean) / (vr + 1e-5).squareRoot() * Double(w.storage[$0]) + Double(b.storage[$0])) }
            }
            XCTAssertLessThanOrEqual(maxRelativeError(rmsNorm(x, weight: w, eps: 1e-5).storage, ref), 1e-5, "rmsnorm portable=\(portable)")
            XCTAssertLessThanOrEqual(maxRelativeError(layerNorm(x, weight: w, bias: b, eps: 1e-5).storage, lref), 1e-5, "layernorm \(portable)")
            let siluRef = x.storage.map { Float(Double($0) / (1 + exp(-Double($0)))) }
            XCTAssertLessThanOrEqual(maxRelativeError(silu(x).storage, siluRef), 1e-5, "silu \(portable)")
            let geluRef = x.storage.map { v -> Float in
                let d = Double(v); return Float(0.5 * d * (1 + tanh(0.7978845608028654 * (d + 0.044715 * d * d * d))))
            }
            XCTAssertLessThanOrEqual(maxRelativeError(geluTanh(x).storage, geluRef), 1e-5, "gelu \(portable)")
            let sm = softmax(x)
            for r in 0..<rows {
                let v = x.row(r).map(Double.init), m = v.max()!, e = v.map { exp($0 - m) }, s = e.reduce(0, +)
                XCTAssertLessThanOrEqual(maxRelativeError(sm.row(r), e.map { Float($0 / s) }), 1e-5, "softmax \(portable)")
            }
        }
    }

    func testExpAcrossRange() {
        let x: [Float] = stride(from: -87, through: 88, by: 0.37).map { Float($0) }
        bothPaths { portable in
            var out = [Float](repeating: 0, count: x.count)
            sb_exp(&out, x, Int64(x.count))
            for (v, o) in zip(x, out) { XCTAssertEqual(Double(o), exp(Double(v)), accuracy: exp(Double(v)) * 1e-6, "exp(\(v)) portable=\(portable)") }
        }
    }

    func testMatmulAndGEMVAgainstNaive() {
        for (M, N, K) in [(1, 67, 45), (1, 300, 576), (5, 33, 17), (64, 70, 129)] {
            let a = Tensor(shape: [M, K], storage: random(M * K, seed: M * 7 + N)), w = Tensor(shape: [N, K], storage: random(N * K, seed: K))
            var ref = [Float](repeating: 0, count: M * N)
            for i in 0..<M { for j in 0..<N { ref[i * N + j] = Float((0..<K).reduce(0.0) { $0 + Double(a.storage[i * K + $1]) * Double(w.storage[j * K + $1]) }) } }
            bothPaths { portable in
                XCTAssertLessThanOrEqual(maxRelativeError(linear(a, w).storage, ref), 1e-5, "linear \(M)×\(N)×\(K) portable=\(portable)")
            }
            XCTAssertLessThanOrEqual(maxRelativeError(matmul(a, w.transposed()).storage, ref), 1e-5, "matmul \(M)×\(N)×\(K)")
        }
    }

    /// On a CPU newer than the installed OpenBLAS, its own detection falls back to generic SSE3 kernels
    /// (5× slower SGEMM); the first product re-selects the newest set the CPU runs (CKernels/blascore.c).
    func testOpenBLASRunsKernelsForThisCPU() throws {
        let core = BLAS.core
        let env = ProcessInfo.processInfo.environment
        guard core != "unknown", env["OPENBLAS_CORETYPE"] == nil, env["STRAWBERRY_BLAS_AS_DETECTED"] != "1" else {
            throw XCTSkip("not a dynamic-architecture OpenBLAS, or OPENBLAS_CORETYPE / STRAWBERRY_BLAS_AS_DETECTED chose its kernels (\(core))")
        }
        let generic = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge"]
        if sb_simd_level() == 1 { XCTAssertFalse(generic.contains(core), "OpenBLAS runs its \(core) kernels on a CPU with AVX2/FMA") }
        // The re-selection changes kernels, not results: a product against float64.
        let a = random(37 * 300, seed: 5), b = random(300 * 41, seed: 6)
        var c = [Float](repeating: 0, count: 37 * 41)
        BLAS.gemm(M: 37, N: 41, K: 300, A: a, lda: 300, B: b, ldb: 41, C: &c, ldc: 41)
        for i in 0..<37 {
            for j in 0..<41 {
                var exact = 0.0, scale = 0.0
                for k in 0..<300 { let t = Double(a[i * 300 + k]) * Double(b[k * 41 + j]); exact += t; scale += abs(t) }
                XCTAssertEqual(Double(c[i * 41 + j]), exact, accuracy: 1e-5 * scale)
            }
        }
    }

    func testRoPEBothStyles() {
        let D = 8, H = 2
        let x = random(H * D, seed: 9)
        for style in [RotaryEmbedding.Style.halves, .interleaved] {
            let rope = RotaryEmbedding(headDim: D, theta: 10000, style: style)
            var y = x
            y.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, nHeads: H, row: 0, table: rope.table(positions: [5])) }
            for h in 0..<H {
                for i in 0..<(D / 2) {
                    let angle = 5 * pow(10000.0, -Double(2 * i) / Double(D))
                    let (p, q) = style == .halves ? (h * D + i, h * D + i + D / 2) : (h * D + 2 * i, h * D + 2 * i + 1)
                    XCTAssertEqual(Double(y[p]), Double(x[p]) * cos(angle) - Double(x[q]) * sin(angle), accuracy: 1e-5)
                    XCTAssertEqual(Double(y[q]), Double(x[q]) * cos(angle) + Double(x[p]) * sin(angle), accuracy: 1e-5)
                }
            }
        }
    }

    func testCausalGroupedAttentionAgainstNaive() {
        let shape = AttentionShape(heads: 4, kvHeads: 2, headDim: 8)
        for (past, T) in [(0, 70), (5, 1), (3, 9)] {
            let S = past + T
            let q = random(T * shape.qDim, seed: 11 + T), k = random(S * shape.kvDim, seed: 12), v = random(S * shape.kvDim, seed: 13)
            var out = [Float](repeating: 0, count: T * shape.qDim)
            causalAttention(q: q, qStride: shape.qDim, keys: k, values: v, T: T, S: S, shape: shape, out: &out)
            var ref = [Float](repeating: 0, count: T * shape.qDim)
            func dot(_ t: Int, _ h: Int, _ s: Int) -> Double {
                var acc = 0.0
                for d in 0..<8 { acc += Double(q[t * 32 + h * 8 + d]) * Double(k[s * 16 + (h / 2) * 8 + d]) }
                return acc / 8.0.squareRoot()
            }
            for t in 0..<T {
                for h in 0..<shape.heads {
                    let visible = past + t + 1
                    let scores = (0..<visible).map { dot(t, h, $0) }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let z = e.reduce(0, +)
                    for d in 0..<8 {
                        var acc = 0.0
                        for s in 0..<visible { acc += e[s] / z * Double(v[s * 16 + (h / 2) * 8 + d]) }
                        ref[t * 32 + h * 8 + d] = Float(acc)
                    }
                }
            }
            XCTAssertLessThanOrEqual(maxRelativeError(out, ref), 1e-5, "past \(past) T \(T)")
        }
    }

    /// Decode's attention with its heads on the pool (enough keys to pass the work threshold) against
    /// float64 and against the calling-thread kernel, which it must match bit for bit.
    func testDecodeAttentionOnThePool() {
        let shape = AttentionShape(heads: 8, kvHeads: 2, headDim: 64), S = 301, D = 64
        let q = random(shape.qDim, seed: 21), k = random(S * shape.kvDim, seed: 22), v = random(S * shape.kvDim, seed: 23)
        var ref = [Float](repeating: 0, count: shape.qDim)
        for h in 0..<shape.heads {
            let kvh = h / 4
            let scores = (0..<S).map { s in (0..<D).reduce(0.0) { $0 + Double(q[h * D + $1]) * Double(k[s * shape.kvDim + kvh * D + $1]) } / 8 }
            let m = scores.max()!, e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
            for d in 0..<D { ref[h * D + d] = Float((0..<S).reduce(0.0) { $0 + e[$1] / z * Double(v[$1 * shape.kvDim + kvh * D + d]) }) }
        }
        var outs: [[Float]] = []
        let threads = BLAS.threads
        defer { AttentionKernels.use(.parallel); BLAS.setThreads(threads) }
        BLAS.setThreads(2)
        for choice in [AttentionKernels.Choice.parallel, .serial] {
            AttentionKernels.use(choice)
            XCTAssertEqual(AttentionKernels.parallelHeads(shape: shape, visible: S), choice == .parallel)
            var out = [Float](repeating: 0, count: shape.qDim)
            causalAttention(q: q, qStride: shape.qDim, keys: k, values: v, T: 1, S: S, shape: shape, out: &out)
            XCTAssertLessThanOrEqual(maxRelativeError(out, ref), 1e-5, "\(choice)")
            outs.append(out)
        }
        XCTAssertEqual(outs[0], outs[1])
    }

    func testHalfConversionRoundTrip() {
        let values: [Float] = [0, -0.0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, 0.1, 1e-8, 70000]
        var h = [UInt16](repeating: 0, count: values.count)
        sb_f32_to_f16(&h, values, Int64(values.count))
        XCTAssertEqual(h[4], 0x7BFF)   // largest half
        XCTAssertEqual(h[6], 0x0001)   // smallest subnormal
        XCTAssertEqual(h[9], 0x7C00)   // overflow → inf
        bothPaths { _ in
            var back = [Float](repeating: 0, count: values.count)
            sb_f16_to_f32(&back, h, Int64(values.count))
            XCTAssertEqual(Array(back[0..<7]), Array(values[0..<7]))
            XCTAssertEqual(back[7], 0.099975586)
        }
    }
}

// The quantised linear layer against float64 references, on both kernel paths, for every block
// format, with activation row counts that exercise the integer kernel (groups of four and a tail)
// and the tiled SGEMM path. Two references:
//   * the weights dequantised (sb_dequant_row, itself checked against gguf-py in ModelFormatsTests)
//     times the float activations: what the dequantise-on-the-fly path must match (1e-5 relative);
//   * the same with the activations quantised to int8 exactly as the kernels define it: what the
//     integer path must match (1e-5 relative to Σ|w·x|), plus the bound that quantisation itself
//     keeps: |Σ w (x − x̂)| ≤ Σ |w| · max|x_block| / 254.
import CKernels
import Foundation
import TensorCore
import XCTest

final class QuantizedTests: XCTestCase {
    struct Rng {
        var s: UInt64
        mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
        mutating func float(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(next() % 1_000_001) / 1_000_000 }
        mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 11) }
    }

    static func half(_ f: Float) -> [UInt8] {
        var h: UInt16 = 0, v = f
        sb_f32_to_f16(&h, &v, 1)
        return [UInt8(h & 0xff), UInt8(h >> 8)]
    }

    /// Random blocks with finite, realistic scales (random bytes elsewhere).
    static func randomMatrix(_ format: QuantizedMatrix.Format, rows: Int, cols: Int, seed: UInt64) -> QuantizedMatrix {
        var rng = Rng(s: seed | 1)
        var bytes: [UInt8] = []
        for _ in 0..<(rows * cols / format.blockValues) {
            var block = (0..<format.blockBytes).map { _ in rng.byte() }
            switch format {
            case .q4_0, .q8_0: block.replaceSubrange(0..<2, with: half(rng.float(0.001, 0.02)))
            case .q4_1: block.replaceSubrange(0..<2, with: half(rng.float(0.001, 0.02))); block.replaceSubrange(2..<4, with: half(rng.float(-0.1, 0.1)))
            case .q4_K: block.replaceSubrange(0..<2, with: half(rng.float(0.0005, 0.002))); block.replaceSubrange(2..<4, with: half(rng.float(0.0005, 0.002)))
            case .q6_K: block.replaceSubrange(208..<210, with: half(rng.float(0.0005, 0.002)))
            case .bf16:
                var h: UInt16 = 0, v = rng.float(-0.05, 0.05)
                sb_f32_to_bf16(&h, &v, 1)
                block = [UInt8(h & 0xff), UInt8(h >> 8)]
            }
            bytes += block
        }
        return QuantizedMatrix(format: format, rows: rows, cols: cols, bytes: bytes)!
    }

    static func activations(_ n: Int, _ k: Int, seed: UInt64) -> Tensor {
        var rng = Rng(s: seed | 1)
        return Tensor(shape: [n, k], storage: (0..<(n * k)).map { _ in rng.float(-3, 3) })
    }

    /// x quantised per 32-value block as the kernels define it (round half to even).
    static func quantizedActivations(_ x: [Float]) -> [Double] {
        var out: [Double] = []
        for b in stride(from: 0, to: x.count, by: 32) {
            let v = Array(x[b..<(b + 32)]), amax = v.map(abs).max()!
            let d = amax / 127, id: Float = d > 0 ? 127 / amax : 0
            out += v.map { Double(($0 * id).rounded(.toNearestOrEven)) * Double(d) }
        }
        return out
    }

    func bothPaths(_ body: (Bool) throws -> Void) rethrows {
        defer { sb_force_portable(0) }
        for portable in [false, true] { sb_force_portable(portable ? 1 : 0); try body(portable) }
    }

    /// Every kernel: interleaved at every row count (AVX-512 VNNI where the CPU has it, AVX2,
    /// portable), row by row (AVX2, portable), dequantised on the fly, and, for row-major matrices,
    /// the SGEMM panels above the row threshold.
    func testEveryFormatAgainstReferences() {
        // bf16 above the row threshold would go to the CPU's bf16 units, which round x to bf16
        // (BF16Tests checks them): here every format runs the paths described above.
        QuantizedKernels.limitBF16(to: .sgemm)
        defer { QuantizedKernels.limitBF16(to: .amx) }
        let cols = 512, rows = 67
        for format in QuantizedMatrix.Format.allCases {
            let rowMajor = Self.randomMatrix(format, rows: rows, cols: cols, seed: UInt64(format.rawValue) * 7919)
            let dense = rowMajor.dequantized()
            XCTAssertTrue(dense.storage.allSatisfy(\.isFinite), "\(format)")
            let interleaved = rowMajor.interleaved()
            XCTAssertEqual(interleaved.layout == .interleaved8, format == .q4_0 || format == .q4_1 || format == .q8_0, "\(format)")
            XCTAssertEqual(interleaved.dequantized().storage, dense.storage, "\(format): interleaving keeps every value")
            for n in [1, 5, quantizedKernelMaxRows + 3] {
                let x = Self.activations(n, cols, seed: UInt64(n) * 31 + 5)
                for (kernel, w, dequantMode, noVNNI) in [("interleaved", interleaved, false, false), ("interleaved-avx2", interleaved, false, true),
                                                         ("rowwise", rowMajor, false, false), ("dequantize", rowMajor, true, false)] {
                    sb_qgemm_set_dequant(dequantMode ? 1 : 0)
                    sb_packed_disable_vnni(noVNNI ? 1 : 0)
                    defer { sb_qgemm_set_dequant(0); sb_packed_disable_vnni(0) }
                    let integer = w.layout == .interleaved8 || (n <= quantizedKernelMaxRows && sb_qgemm_integer(format.rawValue) == 1)
                    bothPaths { portable in
                        let y = linear(x, w)
                        XCTAssertEqual(y.shape, [n, rows])
                        for m in 0..<n {
                            let xs = x.row(m), xq = Self.quantizedActivations(xs)
                            for r in 0..<rows {
                                let wr = dense.row(r).map(Double.init)
                                let exact = zip(wr, xs).map { $0 * Double($1) }.reduce(0, +)
                                let scale = zip(wr, xs).map { abs($0 * Double($1)) }.reduce(0, +)
                                let got = Double(y.storage[m * rows + r])
                                let what = "\(format) \(kernel) n=\(n) row \(r) act \(m) integer=\(integer) portable=\(portable)"
                                if integer {
                                    let want = zip(wr, xq).map { $0 * $1 }.reduce(0, +)
                                    XCTAssertEqual(got, want, accuracy: 1e-5 * scale, what)
                                    var bound = 0.0
                                    for b in stride(from: 0, to: cols, by: 32) {
                                        let amax = xs[b..<(b + 32)].map { Double(abs($0)) }.max()!
                                        bound += wr[b..<(b + 32)].map(abs).reduce(0, +) * amax / 254
                                    }
                                    XCTAssertLessThanOrEqual(abs(got - exact), bound * 1.001 + 1e-5 * scale, what)
                                } else {
                                    XCTAssertEqual(got, exact, accuracy: 1e-5 * scale, what)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func testQ8_0QuantiseOnLoad() {
        let t = Self.activations(5, 96, seed: 99)
        let q = QuantizedMatrix.q8_0(t)!
        XCTAssertEqual(q.bytes.count, 5 * 3 * 34)
        let back = q.dequantized()
        for r in 0..<5 {
            for b in stride(from: 0, to: 96, by: 32) {
                let v = t.row(r)[b..<(b + 32)], amax = v.map(abs).max()!
                for (i, x) in v.enumerated() {
                    // Half a step, plus the fp16 rounding of the scale (2^-11 relative).
                    XCTAssertEqual(back.storage[r * 96 + b + i], x, accuracy: amax / 254 + amax * 1.0e-3)
                }
            }
        }
        XCTAssertNil(QuantizedMatrix.q8_0(Tensor(zeros: [2, 40])), "rows must be whole blocks")
        XCTAssertNil(QuantizedMatrix(format: .q4_1, rows: 2, cols: 32, bytes: [UInt8](repeating: 0, count: 39)), "byte count checked")
        XCTAssertNil(QuantizedMatrix(format: .q4_K, rows: 1, cols: 32, bytes: [UInt8](repeating: 0, count: 144)), "K-quant rows are 256 long")
    }

    func testRowSelectionAndStacking() {
        let a = Self.randomMatrix(.q4_1, rows: 6, cols: 64, seed: 3), b = Self.randomMatrix(.q4_1, rows: 2, cols: 64, seed: 4)
        let s = QuantizedMatrix.stacked([a, b])!
        XCTAssertEqual(s.rows, 8)
        XCTAssertEqual(s.dequantized().storage, a.dequantized().storage + b.dequantized().storage)
        XCTAssertEqual(s.selectingRows([7, 0]).dequantized().storage, b.dequantized().row(1) + a.dequantized().row(0))
        XCTAssertNil(QuantizedMatrix.stacked([a, Self.randomMatrix(.q8_0, rows: 1, cols: 64, seed: 5)]))
        let ids = [5, 0, 5]
        XCTAssertEqual(embedding(.quantized(a), ids).storage, ids.flatMap { a.dequantized().row($0) })
    }

    func testNonFiniteScaleIsFound() {
        var bytes = Self.randomMatrix(.q8_0, rows: 3, cols: 32, seed: 8).bytes
        bytes.replaceSubrange(34..<36, with: [0x00, 0x7c])  // +inf as fp16
        XCTAssertFalse(QuantizedMatrix(format: .q8_0, rows: 3, cols: 32, bytes: bytes)!.allFinite)
        XCTAssertTrue(Self.randomMatrix(.q6_K, rows: 2, cols: 256, seed: 9).allFinite)
    }

    /// Every chunk runs exactly once, whatever the thread count, across many back-to-back jobs
    /// (the generation counter and the two job slots).
    func testPoolRunsEveryChunkOnce() {
        final class Counts: @unchecked Sendable { var hits = [Int32](repeating: 0, count: 97) }
        defer { sb_set_threads(Int32(sb_available_cpus())) }
        for threads in [1, 2, 4] {
            sb_set_threads(Int32(threads))
            let c = Counts()
            for job in 0..<300 {
                let n = Int64(1 + job % 97)
                c.hits.withUnsafeMutableBufferPointer { p in
                    sb_parallel_for(n, { ctx, i in
                        // Each chunk owns its slot, so plain increments suffice; a chunk run twice shows as a 2.
                        ctx!.assumingMemoryBound(to: Int32.self)[Int(i)] += 1
                    }, p.baseAddress!)
                }
            }
            for i in 0..<97 {
                let expected = (0..<300).filter { 1 + $0 % 97 > i }.count
                XCTAssertEqual(Int(c.hits[i]), expected, "threads \(threads) chunk \(i)")
            }
        }
    }

    /// After the thread count is lowered, no more threads than that take part in a job.
    func testLoweredThreadCountCapsTheJob() {
        final class Seen: @unchecked Sendable { var ids = [UInt](repeating: 0, count: 64) }
        defer { sb_set_threads(Int32(sb_available_cpus())) }
        sb_set_threads(4)
        sb_parallel_for(64, { _, _ in }, nil)  // starts three workers
        sb_set_threads(2)
        var distinct = Set<UInt>()
        for _ in 0..<200 {
            let seen = Seen()
            seen.ids.withUnsafeMutableBufferPointer { p in
                sb_parallel_for(64, { ctx, i in
                    var x: Float = 1
                    for k in 0..<2000 { x = x * 1.0001 + Float(k & 1) }  // long enough for every awake worker to try
                    // Each chunk owns its slot.
                    ctx!.assumingMemoryBound(to: UInt.self)[Int(i)] = UInt(pthread_self()) &+ (x > 0 ? 0 : 1)
                }, p.baseAddress!)
            }
            distinct.formUnion(seen.ids)
        }
        XCTAssertLessThanOrEqual(distinct.count, 2, "threads taking part after lowering the count to 2")
    }
}


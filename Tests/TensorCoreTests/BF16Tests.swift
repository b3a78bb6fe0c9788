// bfloat16: the rounding against a bit-level reference, and the product through a frozen weight
// (training's backward, dx = dy · W) against float64 references of the same stored weights, for
// every format W can be held in. The forward product of a bf16 matrix is checked with the other
// block formats in QuantizedTests (1e-5 relative to Σ|w·x|, both kernel bodies, every path). The
// products on the CPU's bf16 units — AMX tiles, AVX-512 BF16 dot products, each where the CPU has
// it — in both directions against float64 of the same bf16-rounded operands.
import CKernels
import Foundation
import TensorCore
import XCTest

final class BF16Tests: XCTestCase {
    /// Round to nearest, ties to even, from the definition: the nearer of the two bf16 neighbours.
    static func reference(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7fc0 }
        let bits = x.bitPattern, lower = UInt16(bits >> 16), upper = lower &+ 1
        let lo = Float(bitPattern: UInt32(lower) << 16), hi = Float(bitPattern: UInt32(upper) << 16)
        // Past the largest finite bf16 the next value is ±2^128 (IEEE 754 overflow): infinity.
        let hiValue = hi.isInfinite ? (hi < 0 ? -0x1p128 : 0x1p128) : Double(hi)
        let dLo = abs(Double(x) - Double(lo)), dHi = abs(Double(x) - hiValue)
        if bits & 0xffff == 0 || dLo < dHi { return lower }
        if dHi < dLo { return upper }
        return lower & 1 == 0 ? lower : upper
    }

    func testRoundingIsNearestEvenInBothBodies() {
        var values: [Float] = [0, -0, 1, -1, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity,
                               .leastNonzeroMagnitude, .leastNormalMagnitude, 1 + 1 / 256, 1 + 3 / 256, 1 + 1 / 512, 1 + 3 / 512,
                               Float(bitPattern: 0x3f80_8000), Float(bitPattern: 0x3f81_8000), Float(bitPattern: 0x7f7f_8000), 3.14159265]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<4096 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32))
            if !f.isNaN { values.append(f) }
        }
        for portable in [0, 1] {
            sb_force_portable(Int32(portable))
            defer { sb_force_portable(0) }
            var out = [UInt16](repeating: 0, count: values.count)
            sb_f32_to_bf16(&out, values, Int64(values.count))
            for (x, got) in zip(values, out) {
                XCTAssertEqual(got, Self.reference(x), "x = \(x) (\(String(x.bitPattern, radix: 16))) portable=\(portable)")
            }
            var nan = [Float.nan, -Float.nan, Float(bitPattern: 0x7f80_0001), Float(bitPattern: 0xffff_ffff)]
            var h = [UInt16](repeating: 0, count: nan.count)
            sb_f32_to_bf16(&h, &nan, Int64(nan.count))
            var back = [Float](repeating: 0, count: h.count)
            sb_bf16_to_f32(&back, h, Int64(h.count))
            XCTAssertTrue(back.allSatisfy(\.isNaN), "NaN stays NaN: \(h.map { String($0, radix: 16) })")
        }
    }

    func testBF16MatrixKeepsRoundedValuesAndRefusesOverflow() {
        let t = Tensor(shape: [2, 3], storage: [1, 1 + 1 / 256, -2.5, 3.14159265, 1e-3, -7])
        let q = QuantizedMatrix.bf16(t)
        XCTAssertEqual(q?.format, .bf16)
        XCTAssertEqual(q?.bytes.count, 12)
        XCTAssertEqual(q?.dequantized().storage, t.storage.map { Float(bitPattern: UInt32(Self.reference($0)) << 16) })
        XCTAssertNil(QuantizedMatrix.bf16(Tensor(shape: [1, 2], storage: [1, .greatestFiniteMagnitude])), "rounds to infinity")
        XCTAssertNil(QuantizedMatrix.bf16(Tensor(shape: [1, 2], storage: [1, .nan])))
        XCTAssertEqual(WeightMatrix.quantized(q!).bytesInMemory * 2, WeightMatrix.dense(t).bytesInMemory)
    }

    /// The largest |got − Σ_k term(m, c, k)| / Σ_k |term(m, c, k)| over an [n, cols] result: the float64
    /// reference every product here is checked against.
    static func worstRelativeError(_ got: [Float], n: Int, cols: Int, inner: Int, _ term: (Int, Int, Int) -> Double) -> Double {
        var worst = 0.0
        for m in 0..<n {
            for c in 0..<cols {
                var exact = 0.0, scale = 0.0
                for k in 0..<inner { let t = term(m, c, k); exact += t; scale += abs(t) }
                worst = max(worst, abs(Double(got[m * cols + c]) - exact) / scale)
            }
        }
        return worst
    }

    /// dx = dy · W against float64 from W's stored values, for W dense, bf16, in a 32-value block
    /// format and in a K-quant; row counts from one (decode-sized) to a training batch.
    func testInputGradientThroughEveryFormat() {
        // The widening path (every CPU); the bf16 units' products are checked below.
        QuantizedKernels.limitBF16(to: .sgemm)
        defer { QuantizedKernels.limitBF16(to: .amx) }
        let out = 67, cols = 512
        for format in [nil, QuantizedMatrix.Format.bf16, .q4_1, .q6_K] {
            let w: WeightMatrix = format.map { .quantized(QuantizedTests.randomMatrix($0, rows: out, cols: cols, seed: 11)) }
                ?? .dense(QuantizedTests.activations(out, cols, seed: 11))
            let dense = w.dense
            for n in [1, 7, 70] {
                let dy = QuantizedTests.activations(n, out, seed: UInt64(n) * 13 + 1)
                for portable in [0, 1] {
                    sb_force_portable(Int32(portable))
                    defer { sb_force_portable(0) }
                    let dx = linearInputGradient(dy, w)
                    XCTAssertEqual(dx.shape, [n, cols])
                    let worst = Self.worstRelativeError(dx.storage, n: n, cols: cols, inner: out) { m, c, r in
                        Double(dy.storage[m * out + r]) * Double(dense.storage[r * cols + c])
                    }
                    XCTAssertLessThanOrEqual(worst, 1e-5, "\(format?.name ?? "F32") n=\(n) portable=\(portable)")
                }
            }
        }
    }

    /// The bf16 units' products round the activations (x, or dy) to bf16 and accumulate in float32:
    /// each kernel this CPU has is checked against float64 sums of the same bf16 values, 1e-5 relative
    /// to Σ|terms|, on shapes with remainders in every dimension (rows, columns and activation rows
    /// not multiples of 8, 16 or 32; an odd reduction length) and on whole blocks, so both the
    /// in-place and the padded operand paths run.
    func testBF16UnitsAgainstFloat64() throws {
        defer { QuantizedKernels.limitBF16(to: .amx) }
        var checked: [String] = []
        for kernel in [QuantizedKernels.BF16Kernel.amx, .avx512] {
            QuantizedKernels.limitBF16(to: kernel)
            guard QuantizedKernels.bf16Kernel == kernel else { continue }
            try checkBF16Products(kernel.name)
            checked.append(kernel.name)
        }
        if checked.isEmpty {
            throw XCTSkip("this CPU (or kernel) has neither AMX-BF16 nor AVX-512 BF16: bf16 products are widened, as tested above")
        }
    }

    func checkBF16Products(_ kernel: String) throws {
        func rounded(_ t: Tensor) -> [Double] {
            var h = [UInt16](repeating: 0, count: t.count), back = [Float](repeating: 0, count: t.count)
            sb_f32_to_bf16(&h, t.storage, Int64(t.count))
            sb_bf16_to_f32(&back, h, Int64(h.count))
            return back.map(Double.init)
        }
        for (rows, cols, n) in [(67, 130, 33), (64, 96, 64), (96, 64, 200), (5, 32, 40), (576, 576, 70), (41, 77, 35)] {
            let q = QuantizedTests.randomMatrix(.bf16, rows: rows, cols: cols, seed: UInt64(rows * cols))
            let w = q.dequantized().storage.map(Double.init)
            // Forward: y = x · Wᵀ (n above the row threshold, so the bf16 units run).
            let x = QuantizedTests.activations(n, cols, seed: UInt64(n) * 7 + 3), xb = rounded(x)
            let y = linear(x, .quantized(q))
            let forward = Self.worstRelativeError(y.storage, n: n, cols: rows, inner: cols) { m, r, k in xb[m * cols + k] * w[r * cols + k] }
            XCTAssertLessThanOrEqual(forward, 1e-5, "\(kernel) forward \(rows)×\(cols), n=\(n)")
            // Backward: dx = dy · W, at a decode-sized and a batch-sized n.
            for rowsOfDy in [1, n] {
                let dy = QuantizedTests.activations(rowsOfDy, rows, seed: UInt64(rowsOfDy) * 5 + 1), db = rounded(dy)
                let dx = linearInputGradient(dy, .quantized(q))
                let backward = Self.worstRelativeError(dx.storage, n: rowsOfDy, cols: cols, inner: rows) { m, c, r in db[m * rows + r] * w[r * cols + c] }
                XCTAssertLessThanOrEqual(backward, 1e-5, "\(kernel) backward \(rows)×\(cols), n=\(rowsOfDy)")
            }
            // The rounding is real: the unrounded activations give a different product.
            let limit = QuantizedKernels.bf16Kernel
            QuantizedKernels.limitBF16(to: .sgemm)
            let widened = linear(x, .quantized(q))
            QuantizedKernels.limitBF16(to: limit)
            XCTAssertNotEqual(widened.storage, y.storage, "\(kernel) \(rows)×\(cols): the bf16 product equals the float32 one")
        }
    }
}

// Weights kept in ggml's block formats, and the linear layer over them.
//
// Batch-1 decoding reads every weight once per token, so its speed is the bytes it reads: Q4_1
// moves 0.625 bytes per weight where float32 moves 4. A `WeightMatrix` is either a dense float32
// tensor (training, parity tests, adapters folded in) or a `QuantizedMatrix` that `linear` reads
// block by block:
//   few activation rows (decode, batched decode): int8 dot products. Q4_0, Q4_1 and Q8_0 are
//   repacked at load with eight rows interleaved (CKernels/packed.c) so one vector instruction
//   serves eight rows; the K-quants are dequantised row by row on the fly (CKernels/quant.c);
//   many rows (prefill): panels of weight rows dequantised to float32, then SGEMM — at that size
//   the product is compute-bound and SGEMM's FLOPs beat the integer path's. bf16 weights (training's
//   `precision: bf16`) go to the CPU's bf16 units instead where it has them: AMX tiles or
//   AVX-512 BF16 dot products (CKernels/bf16.c).
import CKernels
import Synchronization

/// A [rows, cols] matrix in one of ggml's block formats, rows contiguous. bfloat16 is the format
/// with one value per block: the same products (dequantised panels through SGEMM) serve it.
public struct QuantizedMatrix: Sendable, Equatable {
    public enum Format: Int32, Sendable, CaseIterable {
        case q4_0 = 2, q4_1 = 3, q8_0 = 8, q4_K = 12, q6_K = 14, bf16 = 30

        public var name: String { String(describing: self).uppercased() }
        public var blockValues: Int { Int(sb_quant_block_elems(rawValue)) }
        public var blockBytes: Int { Int(sb_quant_block_bytes(rawValue)) }
    }

    /// How the blocks are laid out in `bytes`.
    public enum Layout: Sendable, Equatable {
        /// As in a GGUF file: each row's blocks in order.
        case rowMajor
        /// Eight rows interleaved per block for the integer kernels (CKernels/packed.c).
        case interleaved8
    }

    public let format: Format
    public let rows: Int
    public let cols: Int
    public let bytes: [UInt8]
    public let layout: Layout

    /// Bytes per row in the row-major layout.
    public var rowBytes: Int { cols / format.blockValues * format.blockBytes }
    public var shape: [Int] { [rows, cols] }

    /// nil unless `cols` is a whole number of blocks and `bytes` holds exactly `rows` rows.
    public init?(format: Format, rows: Int, cols: Int, bytes: [UInt8]) {
        guard rows >= 0, cols > 0, cols % format.blockValues == 0 else { return nil }
        let (total, overflow) = rows.multipliedReportingOverflow(by: cols / format.blockValues * format.blockBytes)
        guard !overflow, total == bytes.count else { return nil }
        self.format = format
        self.rows = rows
        self.cols = cols
        self.bytes = bytes
        self.layout = .rowMajor
    }

    private init(format: Format, rows: Int, cols: Int, interleaved: [UInt8]) {
        self.format = format
        self.rows = rows
        self.cols = cols
        self.bytes = interleaved
        self.layout = .interleaved8
    }

    /// Whether `interleaved()` applies: Q4_0, Q4_1 and Q8_0, unless turned off (to measure the
    /// row-by-row kernels, `bench generate --quantized-kernel`).
    public var canInterleave: Bool { layout == .rowMajor && sb_packed_supported(format.rawValue) == 1 && QuantizedKernels.interleave.load(ordering: .relaxed) }

    /// The same matrix with eight rows interleaved for the integer kernels, or itself when the
    /// format has no interleaved kernel.
    public func interleaved() -> QuantizedMatrix {
        guard canInterleave else { return self }
        let n = Int(sb_packed_bytes(format.rawValue, Int64(rows), Int64(cols)))
        guard n >= 0 else { return self }
        var out = [UInt8](repeating: 0, count: n)
        bytes.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBufferPointer { o in sb_pack(o.baseAddress!, format.rawValue, w.baseAddress!, Int64(rows), Int64(cols)) }
        }
        return QuantizedMatrix(format: format, rows: rows, cols: cols, interleaved: out)
    }

    /// Row `r` as float32 into `out` (cols values).
    func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>, _ w: UnsafePointer<UInt8>) {
        switch layout {
        case .rowMajor: sb_dequant_row(format.rawValue, out, w + r * rowBytes, Int64(cols))
        case .interleaved8: sb_packed_dequant_row(format.rawValue, out, w, Int64(r), Int64(cols))
        }
    }

    /// A float32 matrix as Q8_0 (per 32 values: an fp16 scale max|x|/127 and 32 int8), or nil when
    /// its rows are not a multiple of 32 long or a scale overflows fp16 (|x| above ~8.3e6).
    public static func q8_0(_ t: Tensor) -> QuantizedMatrix? {
        let rows = t.rows, cols = t.cols
        guard cols > 0, cols % 32 == 0 else { return nil }
        let blocks = rows * cols / 32
        var out = [UInt8](repeating: 0, count: blocks * 34)
        t.storage.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in sb_quantize_q8_0_blocks(o.baseAddress!, x.baseAddress!, Int64(blocks)) }
        }
        guard let q = QuantizedMatrix(format: .q8_0, rows: rows, cols: cols, bytes: out), q.allFinite else { return nil }
        return q
    }

    /// A float32 matrix rounded to bfloat16 (nearest, ties to even), or nil when a value rounds to
    /// infinity (|x| above ~3.39e38).
    public static func bf16(_ t: Tensor) -> QuantizedMatrix? {
        guard t.cols > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: t.count * 2)
        t.storage.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBytes { o in sb_f32_to_bf16(o.baseAddress!.assumingMemoryBound(to: UInt16.self), x.baseAddress!, Int64(x.count)) }
        }
        guard let q = QuantizedMatrix(format: .bf16, rows: t.rows, cols: t.cols, bytes: out), q.allFinite else { return nil }
        return q
    }

    /// The matrix as float32.
    public func dequantized() -> Tensor { dequantizedRows(0..<rows) }

    public func dequantizedRows(_ r: Range<Int>) -> Tensor {
        var t = Tensor(uninitialized: [r.count, cols])
        if r.isEmpty { return t }
        bytes.withUnsafeBufferPointer { w in
            t.storage.withUnsafeMutableBufferPointer { o in
                switch layout {
                case .rowMajor:
                    sb_dequant_rows(o.baseAddress!, format.rawValue, w.baseAddress!, Int64(r.lowerBound), Int64(r.upperBound), Int64(cols))
                case .interleaved8:
                    for (i, row) in r.enumerated() { dequantizeRow(row, into: o.baseAddress! + i * cols, w.baseAddress!) }
                }
            }
        }
        return t
    }

    /// Whether every value is finite. A block's values are q·d (+ m), with q a small integer, so
    /// they are all finite exactly when its fp16 scales are (a NaN or ±inf scale in a hostile file
    /// is not): only the scales are read, not the whole matrix dequantised.
    public var allFinite: Bool {
        // Byte offsets of each block's fp16 scales, in the row-major layout.
        let offsets: [Int]
        switch format {
        case .q4_0, .q8_0: offsets = [0]
        case .q4_1, .q4_K: offsets = [0, 2]
        case .q6_K: offsets = [208]
        case .bf16:
            // Every value is its own scale: exponent bits (14…7 of the little-endian word) all ones.
            return stride(from: 0, to: bytes.count - 1, by: 2).allSatisfy { bytes[$0 + 1] & 0x7f != 0x7f || bytes[$0] & 0x80 == 0 }
        }
        guard layout == .rowMajor else { return dequantized().storage.allSatisfy(\.isFinite) }
        let size = format.blockBytes
        return bytes.withUnsafeBufferPointer { p in
            var block = 0
            while block + size <= p.count {
                for o in offsets where p[block + o + 1] & 0x7c == 0x7c { return false }  // exponent all ones: inf or NaN
                block += size
            }
            return true
        }
    }

    /// Rows in the order `order` (a permutation or selection of row indices), bytes copied as they are.
    public func selectingRows(_ order: [Int]) -> QuantizedMatrix {
        precondition(layout == .rowMajor, "rows are selected before interleaving")
        let rb = rowBytes
        var out = [UInt8]()
        out.reserveCapacity(order.count * rb)
        for r in order { out.append(contentsOf: bytes[(r * rb)..<((r + 1) * rb)]) }
        return QuantizedMatrix(format: format, rows: order.count, cols: cols, bytes: out)!
    }

    /// Matrices of one format and width stacked row-wise (q|k|v, gate|up), or nil if they differ.
    public static func stacked(_ parts: [QuantizedMatrix]) -> QuantizedMatrix? {
        guard let first = parts.first, parts.allSatisfy({ $0.format == first.format && $0.cols == first.cols && $0.layout == .rowMajor }) else { return nil }
        return QuantizedMatrix(format: first.format, rows: parts.reduce(0) { $0 + $1.rows }, cols: first.cols, bytes: parts.flatMap(\.bytes))
    }
}

/// A linear layer's weight as it sits in memory.
public enum WeightMatrix: Sendable, Equatable {
    case dense(Tensor)
    case quantized(QuantizedMatrix)

    public var rows: Int {
        switch self { case .dense(let t): t.rows; case .quantized(let q): q.rows }
    }
    public var cols: Int {
        switch self { case .dense(let t): t.cols; case .quantized(let q): q.cols }
    }
    /// float32 (the tensor itself, or the blocks dequantised: a copy).
    public var dense: Tensor {
        switch self { case .dense(let t): t; case .quantized(let q): q.dequantized() }
    }
    /// "F32", or the block format's name.
    public var formatName: String {
        switch self { case .dense: "F32"; case .quantized(let q): q.format.name }
    }
    public var bytesInMemory: Int {
        switch self { case .dense(let t): t.count * 4; case .quantized(let q): q.bytes.count }
    }
    /// Q4_0/Q4_1/Q8_0 interleaved for the integer kernels; anything else as it is.
    public func interleaved() -> WeightMatrix {
        if case .quantized(let q) = self { return .quantized(q.interleaved()) }
        return self
    }
}

/// Process-wide kernel choices, for measuring one kernel against another (`bench generate
/// --quantized-kernel`) and for tests. Set before a model is loaded.
public enum QuantizedKernels {
    public enum Choice: String, Sendable, CaseIterable {
        /// Q4_0/Q4_1/Q8_0 interleaved eight rows at a time (the default); K-quants row by row.
        case interleaved
        /// Every format in the file's layout, int8 dot products one row at a time.
        case rowwise
        /// Every row dequantised to float32 on the fly, float dot products.
        case dequantize
    }
    static let interleave = Atomic<Bool>(true)
    public static func use(_ c: Choice) {
        interleave.store(c == .interleaved, ordering: .relaxed)
        sb_qgemm_set_dequant(c == .dequantize ? 1 : 0)
    }

    /// The unit products with bf16 weights run on (CKernels/bf16.c), best first.
    public enum BF16Kernel: Int32, Sendable, CaseIterable {
        /// Widened to float32 in panels for SGEMM: every CPU.
        case sgemm = 0
        /// AVX-512 BF16 dot products (`vdpbf16ps`): AMD Zen 4 and later, Intel Cooper Lake and later.
        case avx512 = 1
        /// The AMX tile unit: Intel Sapphire Rapids and later, where Linux grants the tile state.
        case amx = 2

        /// As `bench train --bf16-kernel` spells it.
        public var name: String {
            switch self {
            case .sgemm: "sgemm"
            case .avx512: "avx512-bf16"
            case .amx: "amx"
            }
        }

        /// As a report says where the products ran.
        public var label: String {
            switch self {
            case .sgemm: "SGEMM, widened"
            case .avx512: "AVX-512 BF16"
            case .amx: "AMX tiles"
            }
        }

        /// The kernel `name` spells (nil: none).
        public init?(name: String) {
            guard let k = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = k
        }
    }

    /// The kernel bf16 products run on now: the best this CPU has within `limitBF16(to:)`, unless
    /// STRAWBERRY_NO_AMX=1 or STRAWBERRY_NO_AVX512_BF16=1 took one away.
    public static var bf16Kernel: BF16Kernel { BF16Kernel(rawValue: sb_bf16_kernel()) ?? .sgemm }
    /// Use no kernel better than `kernel` (`.amx`, the default, allows all): tests check every path
    /// this CPU has, `bench train --bf16-kernel` measures one against another.
    public static func limitBF16(to kernel: BF16Kernel) { sb_bf16_limit(kernel.rawValue) }
}

/// Activation rows up to which a row-major quantised product (K-quants, or `rowwise`) uses the
/// block kernels; above, panels of dequantised rows go through SGEMM. Interleaved matrices use the
/// integer kernel at every size: with eight rows per instruction it beats SGEMM on prefill too
/// (2× on this machine, docs/performance.md).
public let quantizedKernelMaxRows = 32

/// y[N, out] = x[N, in] · wᵀ (+ bias) for a weight in any format.
public func linear(_ x: Tensor, _ w: WeightMatrix, bias: Tensor? = nil) -> Tensor {
    switch w {
    case .dense(let t): return linear(x, t, bias: bias)
    case .quantized(let q): return linear(x, q, bias: bias)
    }
}

public func linear(_ x: Tensor, _ w: QuantizedMatrix, bias: Tensor? = nil) -> Tensor {
    precondition(x.cols == w.cols, "linear: x has \(x.cols) features, weight expects \(w.cols)")
    let n = x.rows, out = w.rows, K = w.cols
    var y = Tensor(uninitialized: [n, out])
    if n > 0 && out > 0 {
        x.storage.withUnsafeBufferPointer { xp in
            y.storage.withUnsafeMutableBufferPointer { yp in
                w.bytes.withUnsafeBufferPointer { wp in
                    // bf16 weights with many activation rows (prefill, training): the bf16 units, x rounded to bf16.
                    if w.format == .bf16 && w.layout == .rowMajor && n > quantizedKernelMaxRows {
                        let rc = sb_bf16_gemm_xwt(yp.baseAddress!, Int64(out), UnsafeRawPointer(wp.baseAddress!).assumingMemoryBound(to: UInt16.self),
                                                  Int64(out), Int64(K), xp.baseAddress!, Int64(n), Int64(K))
                        precondition(rc != -2, "bf16 product failed: out of memory for the packed activations")
                        if rc == 0 { return }
                    }
                    if n <= quantizedKernelMaxRows || w.layout == .interleaved8 {
                        let rc = w.layout == .interleaved8
                            ? sb_packed_gemm(yp.baseAddress!, Int64(out), w.format.rawValue, wp.baseAddress!, Int64(out), Int64(K), xp.baseAddress!, Int64(n), Int64(K))
                            : sb_qgemm(yp.baseAddress!, Int64(out), w.format.rawValue, wp.baseAddress!, Int64(out), Int64(K), xp.baseAddress!, Int64(n), Int64(K))
                        precondition(rc == 0, "quantised product failed (\(rc)): out of memory for the activation scratch")
                        return
                    }
                    // Panels of weight rows: each thread dequantises its panel into a buffer that
                    // stays in cache and runs a single-threaded SGEMM of all n rows against it.
                    var job = QuantizedPanelJob(x: xp.baseAddress!, n: n, K: K, W: wp.baseAddress!, matrix: w, rows: out, y: yp.baseAddress!, per: 0)
                    let threads = BLAS.threads
                    job.per = max(16, min((1 << 17) / K, (out + 4 * threads - 1) / (4 * threads)) / 16 * 16)
                    let panels = (out + job.per - 1) / job.per
                    withUnsafeMutablePointer(to: &job) { p in
                        sb_parallel_for(Int64(panels), { ctx, i in ctx!.assumingMemoryBound(to: QuantizedPanelJob.self).pointee.panel(Int(i)) }, p)
                    }
                }
            }
        }
    }
    if let bias { addRowBias(&y, bias) }
    return y.reshaped(Array(x.shape.dropLast()) + [out])
}

/// dx[N, in] = dy[N, out] · W[out, in]: the gradient a linear layer's input gets through a frozen W
/// (training's backward). bf16 on a CPU with bf16 units (AMX, AVX-512 BF16): dy rounded to bf16 (CKernels/bf16.c).
/// Otherwise a W in a row-major block format (bf16 above all) is read in column panels:
/// each thread dequantises W[:, c0 ..< c1] into a buffer that stays in cache and runs a
/// single-threaded SGEMM for dx[:, c0 ..< c1], so no float32 copy of the whole matrix is made.
public func linearInputGradient(_ dy: Tensor, _ w: WeightMatrix) -> Tensor {
    precondition(dy.cols == w.rows, "linearInputGradient: dy has \(dy.cols) features, weight has \(w.rows) rows")
    let n = dy.rows, out = w.rows, K = w.cols
    var dx = Tensor(uninitialized: [n, K])
    guard case .quantized(let q) = w, q.layout == .rowMajor else {
        let dense = w.dense
        dy.storage.withUnsafeBufferPointer { dp in
            dense.storage.withUnsafeBufferPointer { wp in
                dx.storage.withUnsafeMutableBufferPointer { xp in
                    BLAS.gemm(M: n, N: K, K: out, A: dp.baseAddress!, lda: out, B: wp.baseAddress!, ldb: K, C: xp.baseAddress!, ldc: K)
                }
            }
        }
        return dx
    }
    if n == 0 || out == 0 { return Tensor(zeros: [n, K]) }  // an empty sum is zero
    dy.storage.withUnsafeBufferPointer { dp in
        dx.storage.withUnsafeMutableBufferPointer { xp in
            q.bytes.withUnsafeBufferPointer { wp in
                if q.format == .bf16 {  // the bf16 units where the CPU has them, dy rounded to bf16
                    let rc = sb_bf16_gemm_dyw(xp.baseAddress!, Int64(K), UnsafeRawPointer(wp.baseAddress!).assumingMemoryBound(to: UInt16.self),
                                              Int64(out), Int64(K), dp.baseAddress!, Int64(n), Int64(out))
                    precondition(rc != -2, "bf16 product failed: out of memory for the packed gradient")
                    if rc == 0 { return }
                }
                // About 256 KiB of float32 per panel (Zen 3's L2 is 512 KiB), a whole number of blocks wide.
                // Panels of equal width (a multiple of 16 values and of the block), at least two per thread.
                let unit = max(16, q.format.blockValues), threads = BLAS.threads
                let widest = max(unit, min((1 << 16) / out, (K + 2 * threads - 1) / (2 * threads)))
                let count = (K + widest - 1) / widest
                let width = min(K, ((K + count - 1) / count + unit - 1) / unit * unit)
                var job = ColumnPanelJob(dy: dp.baseAddress!, n: n, out: out, K: K, W: wp.baseAddress!, matrix: q, dx: xp.baseAddress!, width: width)
                let panels = (K + job.width - 1) / job.width
                withUnsafeMutablePointer(to: &job) { p in
                    sb_parallel_for(Int64(panels), { ctx, i in ctx!.assumingMemoryBound(to: ColumnPanelJob.self).pointee.panel(Int(i)) }, p)
                }
            }
        }
    }
    return dx
}

/// dx[:, c0 ..< c1] = dy · W[:, c0 ..< c1] for one column panel of a row-major block-format W.
private struct ColumnPanelJob {
    var dy: UnsafePointer<Float>, n: Int, out: Int, K: Int
    var W: UnsafePointer<UInt8>, matrix: QuantizedMatrix
    var dx: UnsafeMutablePointer<Float>
    var width: Int

    func panel(_ i: Int) {
        let c0 = i * width, w = min(width, K - c0)
        guard w > 0 else { return }
        let blockOffset = c0 / matrix.format.blockValues * matrix.format.blockBytes, rowBytes = matrix.rowBytes
        var buffer = [Float](unsafeUninitializedCapacity: out * w) { _, c in c = out * w }
        buffer.withUnsafeMutableBufferPointer { b in
            for r in 0..<out { sb_dequant_row(matrix.format.rawValue, b.baseAddress! + r * w, W + r * rowBytes + blockOffset, Int64(w)) }
            BLAS.gemmSingleThreaded(M: n, N: w, K: out, A: dy, lda: out, B: b.baseAddress!, ldb: w, C: dx + c0, ldc: K)
        }
    }
}

/// y[:, r0 ..< r1] = x · W[r0 ..< r1]ᵀ for one panel of a quantised W.
private struct QuantizedPanelJob {
    var x: UnsafePointer<Float>, n: Int, K: Int
    var W: UnsafePointer<UInt8>, matrix: QuantizedMatrix, rows: Int
    var y: UnsafeMutablePointer<Float>
    var per: Int

    func panel(_ i: Int) {
        let r0 = i * per, r1 = min(rows, r0 + per)
        guard r0 < r1 else { return }
        var buffer = [Float](unsafeUninitializedCapacity: (r1 - r0) * K) { _, c in c = (r1 - r0) * K }
        buffer.withUnsafeMutableBufferPointer { b in
            for r in r0..<r1 { matrix.dequantizeRow(r, into: b.baseAddress! + (r - r0) * K, W) }
            BLAS.sgemmSingleThreaded(M: n, N: r1 - r0, K: K, A: x, lda: K, B: b.baseAddress!, ldb: K, C: y + r0, ldc: rows)
        }
    }
}

/// Rows `ids` of an embedding table in any format.
public func embedding(_ table: WeightMatrix, _ ids: [Int]) -> Tensor {
    switch table {
    case .dense(let t): return embedding(t, ids)
    case .quantized(let q):
        var out = Tensor(uninitialized: [ids.count, q.cols])
        q.bytes.withUnsafeBufferPointer { w in
            out.storage.withUnsafeMutableBufferPointer { o in
                for (i, id) in ids.enumerated() {
                    precondition(id >= 0 && id < q.rows, "embedding: id \(id) outside [0, \(q.rows))")
                    q.dequantizeRow(id, into: o.baseAddress! + i * q.cols, w.baseAddress!)
                }
            }
        }
        return out
    }
}

func addRowBias(_ y: inout Tensor, _ bias: Tensor) {
    let out = y.cols, rows = y.rows
    y.storage.withUnsafeMutableBufferPointer { yp in
        bias.storage.withUnsafeBufferPointer { b in
            for r in 0..<rows { for j in 0..<out { yp[r * out + j] += b[j] } }
        }
    }
}

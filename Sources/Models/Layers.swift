// Building blocks shared by the architectures: a linear layer, and the attention step that
// appends keys/values to the cache and attends per sequence.
import CKernels
import TensorCore

/// y = x Wᵀ + b with W stored [out, in] (torch.nn.Linear), W float32 or in a block format.
public struct Linear: Sendable {
    public var matrix: WeightMatrix
    public var bias: Tensor?
    public init(weight: Tensor, bias: Tensor? = nil) { self.matrix = .dense(weight); self.bias = bias }
    public init(matrix: WeightMatrix, bias: Tensor? = nil) { self.matrix = matrix; self.bias = bias }
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, matrix, bias: bias) }

    /// W as float32 (a dequantised copy when it is kept quantised); setting it makes W float32.
    public var weight: Tensor {
        get { matrix.dense }
        set { matrix = .dense(newValue) }
    }

    /// W[row0 ..< row0 + d.rows, :] += d — how a LoRA delta lands in one part of a fused weight.
    /// A quantised W becomes float32 first: the adapter's update is exact, and only the layers an
    /// adapter touches pay float32's bytes.
    public mutating func addRows(_ d: Tensor, at row0: Int) throws {
        var w = matrix.dense
        guard d.cols == w.cols, row0 >= 0, row0 + d.rows <= w.rows else {
            throw ModelError.shapeMismatch(expected: "rows \(row0)..<\(row0 + d.rows) of \(w.shape)", found: d.shape)
        }
        matrix = .dense(Tensor(zeros: [0]))  // let go of the old storage so the update happens in place
        let base = row0 * w.cols
        w.storage.withUnsafeMutableBufferPointer { wp in
            d.storage.withUnsafeBufferPointer { src in
                for i in 0..<src.count { wp[base + i] += src[i] }
            }
        }
        matrix = .dense(w)
    }

    /// The same layer with a Q4_0/Q4_1/Q8_0 weight interleaved for the integer kernels (after any
    /// fusing: interleaved matrices are not stacked).
    public func interleaved() -> Linear { Linear(matrix: matrix.interleaved(), bias: bias) }

    /// Stacks the rows of several layers that read the same input (q|k|v, gate|up) into one
    /// matrix, so one GEMM (one pass over the input) serves them all. Parts in one block format
    /// stay in it. Parts in different block formats (Q4_K_M files keep v_proj in Q6_K) are
    /// requantised to Q8_0, finer than either source, rather than held as float32 at 4 bytes a
    /// weight; a float32 part makes the whole float32.
    public static func fused(_ parts: [Linear]) -> Linear {
        let hasBias = parts.contains { $0.bias != nil }
        let rows = parts.reduce(0) { $0 + $1.matrix.rows }
        let b = hasBias ? Tensor(shape: [rows], storage: parts.flatMap { $0.bias?.storage ?? [Float](repeating: 0, count: $0.matrix.rows) }) : nil
        let quantized = parts.compactMap { if case .quantized(let q) = $0.matrix { q } else { nil } }
        if quantized.count == parts.count, let q = QuantizedMatrix.stacked(quantized) { return Linear(matrix: .quantized(q), bias: b) }
        let w = Tensor(shape: [rows, parts[0].matrix.cols], storage: parts.flatMap(\.weight.storage))
        if quantized.count == parts.count, let q = QuantizedMatrix.q8_0(w) { return Linear(matrix: .quantized(q), bias: b) }
        return Linear(weight: w, bias: b)
    }
}

/// Causal self-attention for a stacked batch. `qkv` holds, per row, q (Hq·D) | k (Hkv·D) | v (Hkv·D),
/// already normed and rotated. Keys and values are appended to `cache` for `layer`; the result
/// is [N, Hq·D].
func attend(qkv: Tensor, batch: ForwardBatch, cache: KVCache, layer: Int, shape: AttentionShape, probs: inout [Float]?) -> Tensor {
    let ld = qkv.cols, N = qkv.rows
    var out = Tensor(uninitialized: [N, shape.qDim])
    var k = [Float](repeating: 0, count: 0), v = [Float](repeating: 0, count: 0)
    // Kept probabilities: per sequence, [heads, T, S] (S = T for a training pass's fresh cache).
    if probs != nil {
        probs = [Float](repeating: 0, count: batch.sequences.reduce(0) { $0 + shape.heads * $1.tokens.count * (cache.lengths[$1.slot] + $1.tokens.count) })
    }
    var kept = probs ?? []
    qkv.storage.withUnsafeBufferPointer { src in
        out.storage.withUnsafeMutableBufferPointer { dst in
            kept.withUnsafeMutableBufferPointer { pp in
                var offset = 0
                for (seq, r0) in zip(batch.sequences, batch.rowOffsets) {
                    let T = seq.tokens.count
                    if T == 0 { continue }
                    // Gather this sequence's k and v rows contiguously for the cache.
                    k.removeAll(keepingCapacity: true)
                    v.removeAll(keepingCapacity: true)
                    for r in r0..<(r0 + T) {
                        let row = src.baseAddress! + r * ld + shape.qDim
                        k.append(contentsOf: UnsafeBufferPointer(start: row, count: shape.kvDim))
                        v.append(contentsOf: UnsafeBufferPointer(start: row + shape.kvDim, count: shape.kvDim))
                    }
                    let S = cache.append(slot: seq.slot, layer: layer, keys: k, values: v, count: T)
                    cache.withRows(slot: seq.slot, layer: layer) { keys, values in
                        causalAttention(q: src.baseAddress! + r0 * ld, qStride: ld, keys: keys, values: values, T: T, S: S, shape: shape,
                                        out: dst.baseAddress! + r0 * shape.qDim, probs: pp.isEmpty ? nil : pp.baseAddress! + offset)
                    }
                    offset += shape.heads * T * S
                }
            }
        }
    }
    if probs != nil { probs = kept }
    return out
}

/// Applies per-head RMSNorm (Qwen3's q_norm/k_norm, optional) and RoPE to the q and k parts of
/// every row of a fused qkv activation, in place.
package func normAndRotate(_ qkv: inout Tensor, shape: AttentionShape, rope: RotaryEmbedding, table: RotaryEmbedding.Table,
                   qNorm: Tensor?, kNorm: Tensor?, eps: Float) {
    let ld = qkv.cols, rows = qkv.rows
    qkv.storage.withUnsafeMutableBufferPointer { p in
        for r in 0..<rows {
            let q = p.baseAddress! + r * ld, k = q + shape.qDim
            if let qNorm { qNorm.storage.withUnsafeBufferPointer { sb_rmsnorm(q, q, $0.baseAddress!, Int64(shape.heads), Int64(shape.headDim), eps) } }
            if let kNorm { kNorm.storage.withUnsafeBufferPointer { sb_rmsnorm(k, k, $0.baseAddress!, Int64(shape.kvHeads), Int64(shape.headDim), eps) } }
            rope.apply(q, nHeads: shape.heads, row: r, table: table)
            rope.apply(k, nHeads: shape.kvHeads, row: r, table: table)
        }
    }
}

// Building blocks shared by the architectures: a linear layer, and the attention step that
// appends keys/values to the cache and attends per sequence.
import CKernels
import TensorCore

/// y = x Wᵀ + b with W stored [out, in] (torch.nn.Linear).
public struct Linear: Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    public init(weight: Tensor, bias: Tensor? = nil) { self.weight = weight; self.bias = bias }
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight, bias: bias) }

    /// W[row0 ..< row0 + d.rows, :] += d — how a LoRA delta lands in one part of a fused weight.
    public mutating func addRows(_ d: Tensor, at row0: Int) throws {
        guard d.cols == weight.cols, row0 >= 0, row0 + d.rows <= weight.rows else {
            throw ModelError.shapeMismatch(expected: "rows \(row0)..<\(row0 + d.rows) of \(weight.shape)", found: d.shape)
        }
        let base = row0 * weight.cols
        weight.storage.withUnsafeMutableBufferPointer { w in
            d.storage.withUnsafeBufferPointer { src in
                for i in 0..<src.count { w[base + i] += src[i] }
            }
        }
    }

    /// Stacks the rows of several layers that read the same input (q|k|v, gate|up) into one
    /// matrix, so one GEMM (one pass over the input) serves them all.
    public static func fused(_ parts: [Linear]) -> Linear {
        let cols = parts[0].weight.cols
        let w = Tensor(shape: [parts.reduce(0) { $0 + $1.weight.rows }, cols], storage: parts.flatMap(\.weight.storage))
        let hasBias = parts.contains { $0.bias != nil }
        let b = hasBias ? Tensor(shape: [w.rows], storage: parts.flatMap { $0.bias?.storage ?? [Float](repeating: 0, count: $0.weight.rows) }) : nil
        return Linear(weight: w, bias: b)
    }
}

/// Causal self-attention for a stacked batch. `qkv` holds, per row, q (Hq·D) | k (Hkv·D) | v (Hkv·D),
/// already normed and rotated. Keys and values are appended to `cache` for `layer`; the result
/// is [N, Hq·D].
func attend(qkv: Tensor, batch: ForwardBatch, cache: KVCache, layer: Int, shape: AttentionShape) -> Tensor {
    let ld = qkv.cols, N = qkv.rows
    var out = Tensor(uninitialized: [N, shape.qDim])
    var k = [Float](repeating: 0, count: 0), v = [Float](repeating: 0, count: 0)
    qkv.storage.withUnsafeBufferPointer { src in
        out.storage.withUnsafeMutableBufferPointer { dst in
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
                    causalAttention(q: src.baseAddress! + r0 * ld, qStride: ld, keys: keys, values: values,
                                    T: T, S: S, shape: shape, out: dst.baseAddress! + r0 * shape.qDim)
                }
            }
        }
    }
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

// Causal grouped-query attention over a KV cache.
//
// Shapes: T new tokens of one sequence, Hq query heads and Hkv key/value heads of size D
// (Hq a multiple of Hkv: query head h reads key/value head h / (Hq/Hkv)); the cache holds the
// S = past + T keys and values of that sequence as rows [S, Hkv·D].
// For each head: scores[T,S] = Q_h K_hᵀ · 1/√D, causal softmax (token i sees keys ≤ past + i),
// out_h[T,D] = P V_h. Both products are strided GEMMs straight on the packed rows.
import CKernels
import Synchronization

/// Keys and values of every layer for a set of independent sequences (a batch slot each).
/// A reference type: a cache is one mutable buffer that generation threads through many calls.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let kvDim: Int
    /// Per slot: its length and per-layer key/value rows [capacity, kvDim].
    public private(set) var lengths: [Int]
    private var keys: [[[Float]]]
    private var values: [[[Float]]]

    public init(layers: Int, kvDim: Int, slots: Int = 1) {
        self.layers = layers
        self.kvDim = kvDim
        lengths = Array(repeating: 0, count: slots)
        keys = Array(repeating: Array(repeating: [], count: layers), count: slots)
        values = keys
    }

    public var slots: Int { lengths.count }

    /// Makes `slot` hold the first `count` positions of `source`'s slot `from` (a shared prompt prefix
    /// computed once), so only the rest of the prompt needs a forward pass.
    public func copyPrefix(from source: KVCache, slot from: Int, count: Int, into slot: Int) {
        precondition(source.layers == layers && source.kvDim == kvDim && count <= source.lengths[from])
        let n = count * kvDim
        for l in 0..<layers {
            if keys[slot][l].count < n {
                keys[slot][l].append(contentsOf: repeatElement(0, count: n - keys[slot][l].count))
                values[slot][l].append(contentsOf: repeatElement(0, count: n - values[slot][l].count))
            }
            keys[slot][l].replaceSubrange(0..<n, with: source.keys[from][l][0..<n])
            values[slot][l].replaceSubrange(0..<n, with: source.values[from][l][0..<n])
        }
        lengths[slot] = count
    }

    /// Empties a slot so it can serve a new sequence, keeping its memory.
    public func reset(slot: Int) { lengths[slot] = 0 }

    /// Appends T rows of keys and values for `layer` of `slot` and returns the number of rows that
    /// layer now holds. The slot's length advances only when the last layer is written, so every
    /// layer sees the same past length.
    @discardableResult
    public func append(slot: Int, layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, count T: Int) -> Int {
        let start = lengths[slot], need = (start + T) * kvDim
        if keys[slot][layer].count < need {
            // Grow geometrically: decode appends one row at a time.
            let capacity = max(need, keys[slot][layer].count * 2, 64 * kvDim)
            keys[slot][layer].append(contentsOf: repeatElement(0, count: capacity - keys[slot][layer].count))
            values[slot][layer].append(contentsOf: repeatElement(0, count: capacity - values[slot][layer].count))
        }
        keys[slot][layer].withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<Float>) in
            (p.baseAddress! + start * kvDim).update(from: k, count: T * kvDim)
        }
        values[slot][layer].withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<Float>) in
            (p.baseAddress! + start * kvDim).update(from: v, count: T * kvDim)
        }
        if layer == layers - 1 { lengths[slot] += T }
        return start + T
    }

    /// Calls `body` with the slot's key and value rows for `layer` (S = length + pending rows).
    public func withRows<R>(slot: Int, layer: Int, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R) -> R {
        keys[slot][layer].withUnsafeBufferPointer { k in
            values[slot][layer].withUnsafeBufferPointer { v in body(k.baseAddress!, v.baseAddress!) }
        }
    }
}

/// Attention geometry of one layer.
public struct AttentionShape: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public init(heads: Int, kvHeads: Int, headDim: Int) {
        precondition(heads % kvHeads == 0, "query heads \(heads) not a multiple of kv heads \(kvHeads)")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
    }
    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
}

/// out[T, Hq·D] = causal attention of q[T, Hq·D] (rows `qStride` apart) over keys/values
/// [S, Hkv·D], the last T of which belong to the queries (so query i sits at position S - T + i).
/// Queries go in blocks of 64 rows, each against only the keys it can see, so the masked upper
/// triangle of a long prefill is never computed. A training pass passes `probs` ([Hq, T, S], zeroed):
/// the probabilities are kept there for its backward.
public func causalAttention(
    q: UnsafePointer<Float>, qStride: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
    T: Int, S: Int, shape: AttentionShape, out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>? = nil
) {
    let D = shape.headDim, group = shape.heads / shape.kvHeads
    let scale = 1 / Float(D).squareRoot()
    let past = S - T, block = 64
    if T == 1 && AttentionKernels.parallelHeads(shape: shape, visible: S) {
        var job = DecodeAttentionJob(q: q, keys: keys, values: values, S: S, shape: shape, out: out, probs: probs)
        withUnsafeMutablePointer(to: &job) { p in
            sb_parallel_for(Int64(shape.heads), { ctx, h in ctx!.assumingMemoryBound(to: DecodeAttentionJob.self).pointee.head(Int(h)) }, p)
        }
        return
    }
    var scores = [Float](unsafeUninitializedCapacity: min(T, block) * S) { _, n in n = min(T, block) * S }
    scores.withUnsafeMutableBufferPointer { sp in
        let P = sp.baseAddress!
        for i0 in stride(from: 0, to: T, by: block) {
            let rows = min(block, T - i0), visible = past + i0 + rows  // keys the block's last row sees
            for h in 0..<shape.heads {
                let kvh = h / group
                if rows == 1 {
                    oneQueryHead(q: q + i0 * qStride + h * D, keys: keys + kvh * D, values: values + kvh * D, ldkv: shape.kvDim, D: D,
                                 visible: visible, past: past + i0, scale: scale, scores: P, out: out + i0 * shape.qDim + h * D,
                                 probs: probs?.advanced(by: (h * T + i0) * S))
                    continue
                }
                BLAS.gemm(transB: true, M: rows, N: visible, K: D, A: q + i0 * qStride + h * D, lda: qStride,
                          B: keys + kvh * D, ldb: shape.kvDim, C: P, ldc: visible)
                sb_softmax_causal(P, Int64(rows), Int64(visible), Int64(visible), Int64(past + i0), scale)
                if let probs {
                    for r in 0..<rows { (probs + (h * T + i0 + r) * S).update(from: P + r * visible, count: visible) }
                }
                BLAS.gemm(M: rows, N: D, K: visible, A: P, lda: visible, B: values + kvh * D, ldb: shape.kvDim,
                          C: out + i0 * shape.qDim + h * D, ldc: shape.qDim)
            }
        }
    }
}

/// One query against `visible` keys of one head (decode): dot products, softmax and a weighted sum,
/// no BLAS call to hand off. `scores` holds `visible` floats of scratch.
@inline(__always)
func oneQueryHead(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, ldkv: Int, D: Int, visible: Int,
                  past: Int, scale: Float, scores P: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                  probs: UnsafeMutablePointer<Float>?) {
    for s in 0..<visible { P[s] = sb_dot(q, keys + s * ldkv, Int64(D)) }
    sb_softmax_causal(P, 1, Int64(visible), Int64(visible), Int64(past), scale)
    probs?.update(from: P, count: visible)
    out.update(repeating: 0, count: D)
    for s in 0..<visible { sb_axpy(out, P[s], values + s * ldkv, Int64(D)) }
}

/// Decode's attention, one query head per pool task: the heads read disjoint parts of q and write
/// disjoint parts of out, so they need no coordination beyond their own score scratch.
private struct DecodeAttentionJob {
    var q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>
    var S: Int, shape: AttentionShape
    var out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>?

    func head(_ h: Int) {
        let D = shape.headDim, kvh = h / (shape.heads / shape.kvHeads)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: S) { scratch in
            oneQueryHead(q: q + h * D, keys: keys + kvh * D, values: values + kvh * D, ldkv: shape.kvDim, D: D, visible: S, past: S - 1,
                         scale: 1 / Float(D).squareRoot(), scores: scratch.baseAddress!, out: out + h * D, probs: probs?.advanced(by: h * S))
        }
    }
}

/// Whether decode's attention runs its heads on the thread pool: when there is more than one thread
/// and enough work per call (heads × keys × head size ≥ 2^16 multiply-adds, ~20 µs) to pay for waking
/// a worker. Switchable to measure one against the other (`bench generate --attention`).
public enum AttentionKernels {
    public enum Choice: String, Sendable, CaseIterable { case parallel, serial }
    static let serial = Atomic<Bool>(false)
    public static func use(_ c: Choice) { serial.store(c == .serial, ordering: .relaxed) }

    public static func parallelHeads(shape: AttentionShape, visible: Int) -> Bool {
        !serial.load(ordering: .relaxed) && shape.heads > 1 && BLAS.threads > 1 && shape.heads * visible * shape.headDim >= 1 << 16
    }
}

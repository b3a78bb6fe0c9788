// Elementwise ops and normalisations a transformer needs, each the forward half of a pair:
// the backward twin of every op sits beside it in Backward.swift (next issue) with the same
// argument names. The inner loops are the AVX2/portable C kernels in CKernels.
import CKernels

/// Rows of `table` picked by `ids`: [ids.count, table.cols]. Ids must be in range (checked by callers
/// that take user input; see Models).
public func embedding(_ table: Tensor, _ ids: [Int]) -> Tensor {
    let C = table.cols
    var out = [Float](unsafeUninitializedCapacity: ids.count * C) { _, n in n = ids.count * C }
    table.storage.withUnsafeBufferPointer { t in
        out.withUnsafeMutableBufferPointer { o in
            for (i, id) in ids.enumerated() {
                precondition(id >= 0 && id < table.rows, "embedding: id \(id) outside [0, \(table.rows))")
                (o.baseAddress! + i * C).update(from: t.baseAddress! + id * C, count: C)
            }
        }
    }
    return Tensor(shape: [ids.count, C], storage: out)
}

/// a += b (a residual connection).
public func addInPlace(_ a: inout Tensor, _ b: Tensor) {
    precondition(a.count == b.count, "add: \(a.count) vs \(b.count) elements")
    let n = a.count
    b.storage.withUnsafeBufferPointer { bp in
        a.storage.withUnsafeMutableBufferPointer { ap in sb_add(ap.baseAddress!, ap.baseAddress!, bp.baseAddress!, Int64(n)) }
    }
}

/// RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) · w  (Llama, Qwen3; Zhang & Sennrich 2019).
public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
    precondition(weight.count == x.cols, "rmsNorm: weight \(weight.count) for rows of \(x.cols)")
    var out = Tensor(uninitialized: x.shape)
    x.storage.withUnsafeBufferPointer { xp in
        weight.storage.withUnsafeBufferPointer { wp in
            out.storage.withUnsafeMutableBufferPointer { op in
                sb_rmsnorm(op.baseAddress!, xp.baseAddress!, wp.baseAddress!, Int64(x.rows), Int64(x.cols), eps)
            }
        }
    }
    return out
}

/// LayerNorm over the last dimension with biased variance, like torch.nn.LayerNorm (GPT-2).
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
    precondition(weight.count == x.cols && bias.count == x.cols, "layerNorm: parameters do not match rows of \(x.cols)")
    var out = Tensor(uninitialized: x.shape)
    x.storage.withUnsafeBufferPointer { xp in
        weight.storage.withUnsafeBufferPointer { wp in
            bias.storage.withUnsafeBufferPointer { bp in
                out.storage.withUnsafeMutableBufferPointer { op in
                    sb_layernorm(op.baseAddress!, xp.baseAddress!, wp.baseAddress!, bp.baseAddress!,
                                 Int64(x.rows), Int64(x.cols), eps)
                }
            }
        }
    }
    return out
}

/// SiLU (swish): x · sigmoid(x).
public func silu(_ x: Tensor) -> Tensor { unary(x, sb_silu) }

/// GELU with the tanh approximation (GPT-2's `gelu_new`).
public func geluTanh(_ x: Tensor) -> Tensor { unary(x, sb_gelu_tanh) }

/// Softmax over the last dimension.
public func softmax(_ x: Tensor) -> Tensor {
    var out = x
    let C = x.cols
    out.storage.withUnsafeMutableBufferPointer { p in
        // A causal softmax whose offset lets every row see all C columns.
        sb_softmax_causal(p.baseAddress!, Int64(x.rows), Int64(C), Int64(C), Int64(C), 1)
    }
    return out
}

private func unary(_ x: Tensor, _ kernel: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int64) -> Void) -> Tensor {
    var out = Tensor(uninitialized: x.shape)
    x.storage.withUnsafeBufferPointer { xp in
        out.storage.withUnsafeMutableBufferPointer { op in kernel(op.baseAddress!, xp.baseAddress!, Int64(x.count)) }
    }
    return out
}

/// Whether the AVX2/FMA kernels are active on this CPU.
public var simdKernelsActive: Bool { sb_simd_level() != 0 }
/// "AVX2/FMA", "AVX2/FMA + AVX-512 VNNI" (the integer kernels of quantised weights) or "portable".
public var simdKernelsDescription: String {
    simdKernelsActive ? (sb_packed_vnni_active() != 0 ? "AVX2/FMA + AVX-512 VNNI" : "AVX2/FMA") : "portable"
}

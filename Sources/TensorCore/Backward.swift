// Backward twins of the forward ops (same names, `Backward` suffix). Each takes the upstream
// gradient and what its forward saw, and returns the gradient with respect to the input.
// Frozen parameters (norm weights, biases) get no gradient: only LoRA factors are trained.
import CKernels
import Foundation

/// RMSNorm: y = x·r·w, r = 1/√(mean(x²)+ε).  dx = r·g − (r³/C)·(g·x)·x with g = w ⊙ dy.
public func rmsNormBackward(_ dy: Tensor, x: Tensor, weight: Tensor, eps: Float) -> Tensor {
    let C = x.cols
    var dx = Tensor(uninitialized: x.shape)
    x.storage.withUnsafeBufferPointer { xp in
        dy.storage.withUnsafeBufferPointer { gp in
            weight.storage.withUnsafeBufferPointer { wp in
                dx.storage.withUnsafeMutableBufferPointer { dp in
                    var g = [Float](repeating: 0, count: C)
                    for r in 0..<x.rows {
                        let xr = xp.baseAddress! + r * C, dyr = gp.baseAddress! + r * C, out = dp.baseAddress! + r * C
                        let ms = sb_dot(xr, xr, Int64(C)) / Float(C)
                        let rstd = 1 / (ms + eps).squareRoot()
                        for i in 0..<C { g[i] = wp[i] * dyr[i] }
                        let gx = sb_dot(g, xr, Int64(C))
                        let k = rstd * rstd * rstd * gx / Float(C)
                        for i in 0..<C { out[i] = rstd * g[i] - k * xr[i] }
                    }
                }
            }
        }
    }
    return dx
}

/// LayerNorm: y = (x−μ)·r·w + b.  dx = r·(g − mean(g) − x̂·mean(g·x̂)) with g = w ⊙ dy, x̂ = (x−μ)·r.
public func layerNormBackward(_ dy: Tensor, x: Tensor, weight: Tensor, eps: Float) -> Tensor {
    let C = x.cols
    var dx = Tensor(uninitialized: x.shape)
    for r in 0..<x.rows {
        let base = r * C
        var mean: Float = 0
        for i in 0..<C { mean += x.storage[base + i] }
        mean /= Float(C)
        var v: Float = 0
        for i in 0..<C { let d = x.storage[base + i] - mean; v += d * d }
        let rstd = 1 / (v / Float(C) + eps).squareRoot()
        var gMean: Float = 0, gxMean: Float = 0
        for i in 0..<C {
            let g = weight.storage[i] * dy.storage[base + i], xh = (x.storage[base + i] - mean) * rstd
            gMean += g
            gxMean += g * xh
        }
        gMean /= Float(C)
        gxMean /= Float(C)
        for i in 0..<C {
            let g = weight.storage[i] * dy.storage[base + i], xh = (x.storage[base + i] - mean) * rstd
            dx.storage[base + i] = rstd * (g - gMean - xh * gxMean)
        }
    }
    return dx
}

/// SwiGLU on a fused [N, 2F] activation (gate | up): y = silu(g)·u.
/// dg = dy·u·σ(g)(1 + g(1−σ(g))), du = dy·silu(g); returned fused like the input.
public func swiGLUBackward(_ dy: Tensor, gateUp gu: Tensor) -> Tensor {
    let F = gu.cols / 2
    var d = Tensor(uninitialized: gu.shape)
    gu.storage.withUnsafeBufferPointer { g in
        dy.storage.withUnsafeBufferPointer { up in
            d.storage.withUnsafeMutableBufferPointer { dp in
                for r in 0..<gu.rows {
                    let row = g.baseAddress! + r * 2 * F, out = dp.baseAddress! + r * 2 * F
                    sb_swiglu_backward(out, out + F, row, row + F, up.baseAddress! + r * F, Int64(F))
                }
            }
        }
    }
    return d
}

/// GELU (tanh form): y = ½x(1+tanh(k(x+0.044715x³))).
/// dy/dx = ½(1+t) + ½x(1−t²)·k(1+3·0.044715x²).
public func geluTanhBackward(_ dy: Tensor, x: Tensor) -> Tensor {
    var dx = Tensor(uninitialized: x.shape)
    let k: Float = 0.7978845608028654
    for i in 0..<x.count {
        let v = x.storage[i], t = tanhf(k * (v + 0.044715 * v * v * v))
        let inner: Float = k * (1 + 3 * 0.044715 * v * v)
        let slope: Float = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * inner
        dx.storage[i] = dy.storage[i] * slope
    }
    return dx
}

extension RotaryEmbedding.Table {
    /// The opposite rotation (sin negated). The rotation is orthogonal, so RoPE's backward applies
    /// this table to the gradient; built once per step and shared by every layer.
    public var inverse: RotaryEmbedding.Table { RotaryEmbedding.Table(half: half, cos: cos, sin: sin.map { -$0 }) }
}

/// Mean cross-entropy pieces for rows of logits against targets: returns the summed loss and
/// d(sum loss)/d(logits) = softmax − onehot (the caller scales by 1/count).
public func crossEntropyBackward(logits: Tensor, targets: [Int]) -> (lossSum: Double, dLogits: Tensor) {
    precondition(logits.rows == targets.count, "crossEntropy: \(logits.rows) rows, \(targets.count) targets")
    let V = logits.cols
    var d = logits
    var loss = 0.0
    d.storage.withUnsafeMutableBufferPointer { p in
        for r in 0..<targets.count {
            let row = p.baseAddress! + r * V
            var m = -Float.infinity
            for j in 0..<V { m = max(m, row[j]) }
            var z = 0.0
            for j in 0..<V { z += Double(expf(row[j] - m)) }
            loss += log(z) + Double(m) - Double(row[targets[r]])
            // softmax in place: exp(x − m)/z
            sb_softmax_causal(row, 1, Int64(V), Int64(V), Int64(V), 1)
            row[targets[r]] -= 1
        }
    }
    return (loss, d)
}

/// Attention backward for one head of one sequence, given the saved probabilities P [T, S]
/// (row i sees keys ≤ S−T+i), dO [T, D] (row stride ldo), Q, K, V (row strides), scale 1/√D.
/// Accumulates into dQ, dK, dV (so grouped-query heads sharing K/V sum their gradients).
public func attentionHeadBackward(
    P: UnsafePointer<Float>, dO: UnsafePointer<Float>, ldo: Int, q: UnsafePointer<Float>, ldq: Int,
    k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int, T: Int, S: Int, D: Int, scale: Float,
    dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>
) {
    // dV += Pᵀ dO ; dP = dO Vᵀ ; dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale ; dQ += dS K ; dK += dSᵀ Q
    BLAS.gemm(transA: true, M: S, N: D, K: T, A: P, lda: S, B: dO, ldb: ldo, beta: 1, C: dV, ldc: ldv)
    var dS = [Float](repeating: 0, count: T * S)
    dS.withUnsafeMutableBufferPointer { dp in
        let d = dp.baseAddress!
        BLAS.gemm(transB: true, M: T, N: S, K: D, A: dO, lda: ldo, B: v, ldb: ldv, C: d, ldc: S)
        for i in 0..<T {
            let row = d + i * S, p = P + i * S
            let dot = sb_dot(row, p, Int64(S))
            for j in 0..<S { row[j] = p[j] * (row[j] - dot) * scale }
        }
        BLAS.gemm(M: T, N: D, K: S, A: d, lda: S, B: k, ldb: ldk, beta: 1, C: dQ, ldc: ldq)
        BLAS.gemm(transA: true, M: S, N: D, K: T, A: d, lda: S, B: q, ldb: ldq, beta: 1, C: dK, ldc: ldk)
    }
}

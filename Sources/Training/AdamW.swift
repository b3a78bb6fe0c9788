// AdamW (Loshchilov & Hutter 2019) exactly as torch.optim.AdamW computes it, one loop over the
// flat parameter buffer:
//   p ← p·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
//   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
// plus the learning-rate schedules of transformers' get_scheduler and torch's clip_grad_norm_.
import Foundation

public struct AdamW: Sendable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0.0
    public private(set) var step = 0
    public var m: [Float]
    public var v: [Float]

    public init(parameters n: Int, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: n)
        v = [Float](repeating: 0, count: n)
    }

    /// Restores a saved state (resume).
    public init(m: [Float], v: [Float], step: Int, beta1: Float, beta2: Float, eps: Float, weightDecay: Float) {
        self.m = m
        self.v = v
        self.step = step
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    public mutating func update(_ params: inout [Float], grads: [Float], lr: Float) {
        step += 1
        let bc1 = 1 - Float(pow(Double(beta1), Double(step))), bc2sqrt = Float(sqrt(1 - pow(Double(beta2), Double(step))))
        let stepSize = lr / bc1, decay = 1 - lr * weightDecay
        for i in params.indices {
            let g = grads[i]
            params[i] *= decay
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            params[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2sqrt + eps)
        }
    }
}

/// Scales gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ grads: inout [Float], maxNorm: Float) -> Float {
    var sum = 0.0
    for g in grads { sum += Double(g) * Double(g) }
    let norm = Float(sum.squareRoot())
    if maxNorm > 0 {
        let coef = maxNorm / (norm + 1e-6)
        if coef < 1 { for i in grads.indices { grads[i] *= coef } }
    }
    return norm
}

/// Learning-rate multipliers of transformers' schedulers (LambdaLR on the optimizer-step count,
/// which is 0 for the first update).
public enum LRSchedule: String, Codable, Sendable, CaseIterable {
    case constant, constantWithWarmup = "constant_with_warmup", linear, cosine

    public func factor(step: Int, warmup: Int, total: Int) -> Float {
        if self != .constant && step < warmup { return Float(step) / Float(max(1, warmup)) }
        switch self {
        case .constant, .constantWithWarmup: return 1
        case .linear: return max(0, Float(total - step) / Float(max(1, total - warmup)))
        case .cosine:
            let progress = Double(step - warmup) / Double(max(1, total - warmup))
            return Float(max(0, 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress))))
        }
    }
}

// `strawberry gradcheck`: the loss and the LoRA gradients of one fixed batch — the first N training
// examples in file order, dropout off — so that another engine given the same configuration (the
// PyTorch backend's `strawberry-torch gradcheck`) can be checked against this one number by number:
// the same token ids and targets, the same loss, the same gradient of every factor.
import Adapters
import Records

/// batch.json of a gradient check.
public struct GradientCheckBatch: Codable, Equatable, Sendable {
    public var ids: [[Int]]
    /// Target of each position (the next token), −100 where there is no loss.
    public var labels: [[Int]]
    /// Mean cross-entropy per target token.
    public var loss: Double
    public var targets: Int
    /// The adapted modules in the order of the flat parameter layout.
    public var modules: [String]
}

extension Trainer {
    /// Loss and gradients (of the mean loss) at the current adapter — the seeded initialisation, or
    /// `init_adapter` — over the first `examples` training examples as one micro-batch.
    public func gradientCheck(examples: Int) throws -> (batch: GradientCheckBatch, adapter: LoRAState, gradients: LoRAState) {
        guard examples >= 1 else { throw TrainingError.badValue(key: "examples", value: "\(examples)", expected: "an integer ≥ 1") }
        let chosen = Array(train.prefix(examples))
        let b = TrainingBatch(sequences: chosen.map(\.ids), labels: chosen.map(\.labels))
        let n = max(1, b.targetCount)
        let fixed = LoRAState(lora, dropout: 0)
        var grads: [Float]? = [Float](repeating: 0, count: lora.parameterCount)
        let loss = try model.loss(b, lora: fixed, lossScale: 1 / Float(n), dropoutSeed: 0, grads: &grads) / Double(n)
        var g = fixed
        g.values = grads ?? []
        return (GradientCheckBatch(ids: b.sequences, labels: b.labels, loss: loss, targets: b.targetCount, modules: lora.modules.map(\.path)), lora, g)
    }
}

// One optimizer step, shared by the trainer and `bench train` so the benchmark times exactly what
// training runs: forward and backward over the micro-batches (loss averaged over every target
// token of the step), gradient clipping, then AdamW.
import Adapters

public struct StepResult: Sendable {
    /// Mean cross-entropy per target token over the step's micro-batches.
    public let loss: Double
    /// Gradient norm before clipping.
    public let gradNorm: Float
    public let tokens: Int
}

public enum TrainingStep {
    /// `dropoutSeed(k)` seeds the dropout masks of micro-batch k (so a resumed run redraws the same masks).
    public static func run(_ model: any TrainableLM, lora: inout LoRAState, optimizer: inout AdamW, microBatches: [TrainingBatch],
                           learningRate: Float, maxGradNorm: Float, dropoutSeed: (Int) -> UInt64) throws -> StepResult {
        let n = max(1, microBatches.reduce(0) { $0 + $1.targetCount })
        var grads: [Float]? = [Float](repeating: 0, count: lora.parameterCount)
        var loss = 0.0
        for (k, b) in microBatches.enumerated() {
            loss += try model.loss(b, lora: lora, lossScale: 1 / Float(n), dropoutSeed: dropoutSeed(k), grads: &grads) / Double(n)
        }
        var g = grads ?? []
        grads = nil
        let norm = clipGradNorm(&g, maxNorm: maxGradNorm)
        optimizer.update(&lora.values, grads: g, lr: learningRate)
        return StepResult(loss: loss, gradNorm: norm, tokens: microBatches.reduce(0) { $0 + $1.tokenCount })
    }
}

// One optimizer step, shared by the trainer and `bench train` so the benchmark times exactly what
// training runs: forward and backward over the micro-batches (loss averaged over every target
// token of the step), gradient clipping, then AdamW. With it, the types every architecture's
// training pass shares: the batch and the trainable model.
import Adapters
import Models

/// A batch of token sequences with per-position targets (−100: no loss at this position).
public struct TrainingBatch: Sendable {
    public var sequences: [[Int]]
    public var labels: [[Int]]
    public init(sequences: [[Int]], labels: [[Int]]) {
        precondition(zip(sequences, labels).allSatisfy { $0.count == $1.count }, "labels must align with tokens")  // built by ExampleEncoder
        self.sequences = sequences
        self.labels = labels
    }
    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }
    public var targetCount: Int { labels.reduce(0) { $0 + $1.filter { $0 >= 0 }.count } }
}

public protocol TrainableLM: Sendable {
    var config: ModelConfig { get }
    /// Summed cross-entropy over the batch's targets; when `grads` is given, adds
    /// d(lossScale · loss)/d(LoRA) into it.
    func loss(_ batch: TrainingBatch, lora: LoRAState, lossScale: Float, dropoutSeed: UInt64, grads: inout [Float]?) throws -> Double
}

extension TrainingBatch {
    var spans: [SequenceSpan] {
        var s: [SequenceSpan] = [], r = 0
        for seq in sequences { s.append(SequenceSpan(start: r, T: seq.count)); r += seq.count }
        return s
    }
    /// Stacked rows that carry a target, and the targets.
    var targetRows: ([Int], [Int]) {
        var rows: [Int] = [], targets: [Int] = [], r = 0
        for l in labels { for t in l { if t >= 0 { rows.append(r); targets.append(t) }; r += 1 } }
        return (rows, targets)
    }
}


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

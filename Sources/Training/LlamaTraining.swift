// Training pass of the Llama/Qwen3 block (Models/Llama.swift): the same forward, keeping what the
// backward needs, then gradients flowing back through every op to the LoRA factors. Frozen
// weights get no gradient buffers; only dX = dY·W is computed through them.
import Adapters
import CKernels
import Models
import TensorCore

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

extension LlamaModel: TrainableLM {
    struct LayerSaved {
        var xIn: Tensor, n1: Tensor, qkvPre: Tensor, qkv: Tensor, probs: [Float], a: Tensor
        var xMid: Tensor, n2: Tensor, gu: Tensor, h: Tensor
        var sQKV: LinearSaved, sO: LinearSaved, sGU: LinearSaved, sDown: LinearSaved
    }

    /// LoRA modules per in-memory weight of one block; each writes at its rows of the fused output.
    func slots(_ lora: LoRAState, layer: Int) -> (qkv: [LoRASlot], o: [LoRASlot], gu: [LoRASlot], down: [LoRASlot]) {
        func s(_ w: String) -> [LoRASlot] { lora.modules(layer: layer, weight: w).map { LoRASlot(module: $0, column: $0.slot.row0) } }
        return (s("qkv"), s("o"), s("gate_up"), s("down"))
    }

    public func loss(_ batch: TrainingBatch, lora: LoRAState, lossScale: Float, dropoutSeed: UInt64,
                     grads: inout [Float]?) throws -> Double {
        let c = config, eps = c.normEps, spans = batch.spans
        let positions = batch.sequences.flatMap { Array(0..<$0.count) }
        try validate(batch, c)
        let table = rope.table(positions: positions)
        let p = lora.config.dropout
        var x = embedding(embed, batch.sequences.flatMap { $0 })
        var saved: [LayerSaved] = []
        for (l, b) in blocks.enumerated() {
            let sl = slots(lora, layer: l)
            let seed = dropoutSeed &+ UInt64(l) &* 0x1000_0001
            var sQKV = LinearSaved(), sO = LinearSaved(), sGU = LinearSaved(), sDown = LinearSaved()
            let n1 = rmsNorm(x, weight: b.inputNorm, eps: eps)
            let qkvPre = adaptedLinear(n1, b.qkv, slots: sl.qkv, lora: lora, dropout: p, dropoutSeed: seed, saved: &sQKV)
            var qkv = qkvPre
            normAndRotateRows(&qkv, table: table, qNorm: b.qNorm, kNorm: b.kNorm)
            var probs: [Float] = []
            let a = trainingAttention(qkv: qkv, spans: spans, shape: shape, probs: &probs)
            let xIn = x
            addInPlace(&x, adaptedLinear(a, b.o, slots: sl.o, lora: lora, dropout: p, dropoutSeed: seed &+ 1, saved: &sO))
            let xMid = x
            let n2 = rmsNorm(x, weight: b.postNorm, eps: eps)
            let gu = adaptedLinear(n2, b.gateUp, slots: sl.gu, lora: lora, dropout: p, dropoutSeed: seed &+ 2, saved: &sGU)
            let h = swiGLU(gu)
            addInPlace(&x, adaptedLinear(h, b.down, slots: sl.down, lora: lora, dropout: p, dropoutSeed: seed &+ 3, saved: &sDown))
            if grads != nil {
                saved.append(LayerSaved(xIn: xIn, n1: n1, qkvPre: qkvPre, qkv: qkv, probs: probs, a: a, xMid: xMid, n2: n2, gu: gu, h: h,
                                        sQKV: sQKV, sO: sO, sGU: sGU, sDown: sDown))
            }
        }
        let (rows, targets) = batch.targetRows
        let (loss, dH) = lmHeadLoss(rmsNorm(x, weight: norm, eps: eps), rows: rows, targets: targets, head: lmHead.dense, lossScale: lossScale)
        guard var g = grads else { return loss }
        grads = nil   // g owns the buffer while the backward fills it (no copy)
        defer { grads = g }

        let inverseTable = table.inverse
        var dx = rmsNormBackward(dH, x: x, weight: norm, eps: eps)
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let b = blocks[l], s = saved[l], sl = slots(lora, layer: l)
            // MLP: x_out = x_mid + down(swiglu(gate_up(rmsnorm(x_mid))))
            let dh = adaptedLinearBackward(dx, x: s.h, b.down, slots: sl.down, lora: lora, saved: s.sDown, grads: &g)
            let dgu = swiGLUBackward(dh, gateUp: s.gu)
            let dn2 = adaptedLinearBackward(dgu, x: s.n2, b.gateUp, slots: sl.gu, lora: lora, saved: s.sGU, grads: &g)
            addInPlace(&dx, rmsNormBackward(dn2, x: s.xMid, weight: b.postNorm, eps: eps))
            // Attention: x_mid = x_in + o(attention(rope(norm(q, k)), v))
            let da = adaptedLinearBackward(dx, x: s.a, b.o, slots: sl.o, lora: lora, saved: s.sO, grads: &g)
            var dqkv = trainingAttentionBackward(da, qkv: s.qkv, probs: s.probs, spans: spans, shape: shape)
            normAndRotateRowsBackward(&dqkv, pre: s.qkvPre, table: inverseTable, qNorm: b.qNorm, kNorm: b.kNorm)
            let dn1 = adaptedLinearBackward(dqkv, x: s.n1, b.qkv, slots: sl.qkv, lora: lora, saved: s.sQKV, grads: &g)
            addInPlace(&dx, rmsNormBackward(dn1, x: s.xIn, weight: b.inputNorm, eps: eps))
        }
        return loss
    }

    /// Qwen3's per-head q/k RMSNorm (if present) then RoPE, on every row: the inference code path.
    func normAndRotateRows(_ qkv: inout Tensor, table: RotaryEmbedding.Table, qNorm: Tensor?, kNorm: Tensor?) {
        normAndRotate(&qkv, shape: shape, rope: rope, table: table, qNorm: qNorm, kNorm: kNorm, eps: config.normEps)
    }

    /// Backward of `normAndRotateRows` (given the inverse rotation table): rotate back, then the
    /// per-head RMSNorm backward.
    func normAndRotateRowsBackward(_ d: inout Tensor, pre: Tensor, table: RotaryEmbedding.Table, qNorm: Tensor?, kNorm: Tensor?) {
        let ld = d.cols, rows = d.rows, shape = shape, rope = rope, D = shape.headDim
        d.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                rope.apply(p.baseAddress! + r * ld, nHeads: shape.heads, row: r, table: table)
                rope.apply(p.baseAddress! + r * ld + shape.qDim, nHeads: shape.kvHeads, row: r, table: table)
            }
        }
        for (norm, start, heads) in [(qNorm, 0, shape.heads), (kNorm, shape.qDim, shape.kvHeads)] {
            guard let norm else { continue }
            // Gather the heads of every row into [N·heads, D], run RMSNorm's backward, scatter back.
            var g = [Float](), x = [Float]()
            for r in 0..<rows {
                g += d.storage[(r * ld + start)..<(r * ld + start + heads * D)]
                x += pre.storage[(r * ld + start)..<(r * ld + start + heads * D)]
            }
            let dx = rmsNormBackward(Tensor(shape: [rows * heads, D], storage: g), x: Tensor(shape: [rows * heads, D], storage: x),
                                     weight: norm, eps: config.normEps)
            for r in 0..<rows {
                for i in 0..<(heads * D) { d.storage[r * ld + start + i] = dx.storage[r * heads * D + i] }
            }
        }
    }
}

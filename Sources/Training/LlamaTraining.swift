// The backward pass of the Llama/Qwen3 block, beside the forward it mirrors (Models/Llama.swift,
// `hiddenStates`, run with a LoRATape that keeps what this reads): gradients flow back through every
// op to the LoRA factors. Frozen weights get no gradient buffers; only dX = dY·W is computed through them.
import Adapters
import CKernels
import Models
import TensorCore

extension LlamaModel: TrainableLM {
    public func loss(_ batch: TrainingBatch, lora: LoRAState, lossScale: Float, dropoutSeed: UInt64,
                     grads: inout [Float]?) throws -> Double {
        let eps = config.normEps, spans = batch.spans
        try validate(batch, config)
        let tape = LoRATape(lora: lora, layers: blocks.count, dropoutSeed: dropoutSeed, keeps: grads != nil)
        let x = try hiddenStates(batch.forwardBatch, cache: makeCache(slots: batch.sequences.count), tape: tape)
        let (rows, targets) = batch.targetRows
        let (loss, dH) = lmHeadLoss(rmsNorm(x, weight: norm, eps: eps), rows: rows, targets: targets, head: lmHead, lossScale: lossScale,
                                     backward: grads != nil)
        guard var g = grads, let dH else { return loss }
        grads = nil   // g owns the buffer while the backward fills it (no copy)
        defer { grads = g }

        let inverseTable = rope.table(positions: batch.sequences.flatMap { Array(0..<$0.count) }).inverse
        var dx = rmsNormBackward(dH, x: x, weight: norm, eps: eps)
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let b = blocks[l], s = tape.blocks[l]
            // The forward applied qkv, o, gate_up, down in this order.
            let (sQKV, sO, sGU, sDown) = (s.linears[0], s.linears[1], s.linears[2], s.linears[3])
            func slots(_ w: String) -> [LoRASlot] { tape.slots(layer: l, weight: w) }
            // MLP: x_out = x_mid + down(swiglu(gate_up(rmsnorm(x_mid))))
            let dh = adaptedLinearBackward(dx, x: s[.mlpActivation], b.down, slots: slots("down"), lora: lora, saved: sDown, grads: &g)
            let dgu = swiGLUBackward(dh, gateUp: s[.mlpUp])
            let dn2 = adaptedLinearBackward(dgu, x: s[.mlpNorm], b.gateUp, slots: slots("gate_up"), lora: lora, saved: sGU, grads: &g)
            addInPlace(&dx, rmsNormBackward(dn2, x: s[.middle], weight: b.postNorm, eps: eps))
            // Attention: x_mid = x_in + o(attention(rope(norm(q, k)), v))
            let da = adaptedLinearBackward(dx, x: s[.attention], b.o, slots: slots("o"), lora: lora, saved: sO, grads: &g)
            var dqkv = trainingAttentionBackward(da, qkv: s[.qkv], probs: s.probs, spans: spans, shape: shape)
            normAndRotateRowsBackward(&dqkv, pre: s[.projected], table: inverseTable, qNorm: b.qNorm, kNorm: b.kNorm)
            let dn1 = adaptedLinearBackward(dqkv, x: s[.attentionNorm], b.qkv, slots: slots("qkv"), lora: lora, saved: sQKV, grads: &g)
            addInPlace(&dx, rmsNormBackward(dn1, x: s[.input], weight: b.inputNorm, eps: eps))
        }
        return loss
    }

    /// Backward of the forward's `normAndRotate` (given the inverse rotation table): rotate back, then
    /// the per-head RMSNorm backward.
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

// The backward pass of GPT-2 (Models/GPT2.swift, `hiddenStates`, run with a LoRATape that keeps what
// this reads): LayerNorm, fused c_attn (Conv1D, held as a [3C, C] Linear, so its LoRA factors have
// PEFT's shapes: A [r, C], B [3C, r]), GELU MLP.
import Adapters
import Models
import TensorCore

extension GPT2Model: TrainableLM {
    public func loss(_ batch: TrainingBatch, lora: LoRAState, lossScale: Float, dropoutSeed: UInt64, grads: inout [Float]?) throws -> Double {
        let eps = config.normEps, spans = batch.spans
        try validate(batch, config)
        let tape = LoRATape(lora: lora, layers: blocks.count, dropoutSeed: dropoutSeed, keeps: grads != nil)
        let x = try hiddenStates(batch.forwardBatch, cache: makeCache(slots: batch.sequences.count), tape: tape)
        let (rows, targets) = batch.targetRows
        let (loss, dH) = lmHeadLoss(layerNorm(x, weight: lnF.w, bias: lnF.b, eps: eps), rows: rows, targets: targets, head: .dense(wte),
                                     lossScale: lossScale, backward: grads != nil)
        guard var g = grads, let dH else { return loss }
        grads = nil   // g owns the buffer while the backward fills it (no copy)
        defer { grads = g }

        var dx = layerNormBackward(dH, x: x, weight: lnF.w, eps: eps)
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let b = blocks[l], s = tape.blocks[l]
            // The forward applied attn, proj, fc, fc_proj in this order.
            let (sAttn, sProj, sFc, sFcProj) = (s.linears[0], s.linears[1], s.linears[2], s.linears[3])
            func slots(_ w: String) -> [LoRASlot] { tape.slots(layer: l, weight: w) }
            let dg = adaptedLinearBackward(dx, x: s[.mlpActivation], b.fcProj, slots: slots("fc_proj"), lora: lora, saved: sFcProj, grads: &g)
            let df = geluTanhBackward(dg, x: s[.mlpUp])
            let dn2 = adaptedLinearBackward(df, x: s[.mlpNorm], b.fc, slots: slots("fc"), lora: lora, saved: sFc, grads: &g)
            addInPlace(&dx, layerNormBackward(dn2, x: s[.middle], weight: b.ln2.w, eps: eps))
            let da = adaptedLinearBackward(dx, x: s[.attention], b.proj, slots: slots("proj"), lora: lora, saved: sProj, grads: &g)
            let dqkv = trainingAttentionBackward(da, qkv: s[.qkv], probs: s.probs, spans: spans, shape: shape)
            let dn1 = adaptedLinearBackward(dqkv, x: s[.attentionNorm], b.attn, slots: slots("attn"), lora: lora, saved: sAttn, grads: &g)
            addInPlace(&dx, layerNormBackward(dn1, x: s[.input], weight: b.ln1.w, eps: eps))
        }
        return loss
    }
}

// Training pass of GPT-2 (Models/GPT2.swift): LayerNorm, fused c_attn (Conv1D, held as a
// [3C, C] Linear, so its LoRA factors have PEFT's shapes: A [r, C], B [3C, r]), GELU MLP.
import Adapters
import Models
import TensorCore

extension GPT2Model: TrainableLM {
    struct LayerSaved {
        var xIn: Tensor, n1: Tensor, qkv: Tensor, probs: [Float], a: Tensor, xMid: Tensor, n2: Tensor, f: Tensor, g: Tensor
        var sAttn: LinearSaved, sProj: LinearSaved, sFc: LinearSaved, sFcProj: LinearSaved
    }

    /// LoRA modules per weight of one block (GPT-2 fuses nothing beyond c_attn itself).
    func slots(_ lora: LoRAState, layer: Int) -> (attn: [LoRASlot], proj: [LoRASlot], fc: [LoRASlot], fcProj: [LoRASlot]) {
        func s(_ w: String) -> [LoRASlot] { lora.modules(layer: layer, weight: w).map { LoRASlot(module: $0, column: $0.slot.row0) } }
        return (s("attn"), s("proj"), s("fc"), s("fc_proj"))
    }

    public func loss(_ batch: TrainingBatch, lora: LoRAState, lossScale: Float, dropoutSeed: UInt64, grads: inout [Float]?) throws -> Double {
        let c = config, eps = c.normEps, spans = batch.spans, p = lora.config.dropout
        let ids = batch.sequences.flatMap { $0 }
        try validate(batch, c)
        var x = embedding(wte, ids)
        addInPlace(&x, embedding(wpe, batch.sequences.flatMap { Array(0..<$0.count) }))
        var saved: [LayerSaved] = []
        for (l, b) in blocks.enumerated() {
            let sl = slots(lora, layer: l), seed = dropoutSeed &+ UInt64(l) &* 0x1000_0001
            var sAttn = LinearSaved(), sProj = LinearSaved(), sFc = LinearSaved(), sFcProj = LinearSaved()
            let xIn = x
            let n1 = layerNorm(x, weight: b.ln1.w, bias: b.ln1.b, eps: eps)
            let qkv = adaptedLinear(n1, b.attn, slots: sl.attn, lora: lora, dropout: p, dropoutSeed: seed, saved: &sAttn)
            var probs: [Float] = []
            let a = trainingAttention(qkv: qkv, spans: spans, shape: shape, probs: &probs)
            addInPlace(&x, adaptedLinear(a, b.proj, slots: sl.proj, lora: lora, dropout: p, dropoutSeed: seed &+ 1, saved: &sProj))
            let xMid = x
            let n2 = layerNorm(x, weight: b.ln2.w, bias: b.ln2.b, eps: eps)
            let f = adaptedLinear(n2, b.fc, slots: sl.fc, lora: lora, dropout: p, dropoutSeed: seed &+ 2, saved: &sFc)
            let g = geluTanh(f)
            addInPlace(&x, adaptedLinear(g, b.fcProj, slots: sl.fcProj, lora: lora, dropout: p, dropoutSeed: seed &+ 3, saved: &sFcProj))
            if grads != nil {
                saved.append(LayerSaved(xIn: xIn, n1: n1, qkv: qkv, probs: probs, a: a, xMid: xMid, n2: n2, f: f, g: g,
                                        sAttn: sAttn, sProj: sProj, sFc: sFc, sFcProj: sFcProj))
            }
        }
        let (rows, targets) = batch.targetRows
        let (loss, dH) = lmHeadLoss(layerNorm(x, weight: lnF.w, bias: lnF.b, eps: eps), rows: rows, targets: targets, head: wte, lossScale: lossScale)
        guard var g = grads else { return loss }
        grads = nil   // g owns the buffer while the backward fills it (no copy)
        defer { grads = g }

        var dx = layerNormBackward(dH, x: x, weight: lnF.w, eps: eps)
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let b = blocks[l], s = saved[l], sl = slots(lora, layer: l)
            let dg = adaptedLinearBackward(dx, x: s.g, b.fcProj, slots: sl.fcProj, lora: lora, saved: s.sFcProj, grads: &g)
            let df = geluTanhBackward(dg, x: s.f)
            let dn2 = adaptedLinearBackward(df, x: s.n2, b.fc, slots: sl.fc, lora: lora, saved: s.sFc, grads: &g)
            addInPlace(&dx, layerNormBackward(dn2, x: s.xMid, weight: b.ln2.w, eps: eps))
            let da = adaptedLinearBackward(dx, x: s.a, b.proj, slots: sl.proj, lora: lora, saved: s.sProj, grads: &g)
            let dqkv = trainingAttentionBackward(da, qkv: s.qkv, probs: s.probs, spans: spans, shape: shape)
            let dn1 = adaptedLinearBackward(dqkv, x: s.n1, b.attn, slots: sl.attn, lora: lora, saved: s.sAttn, grads: &g)
            addInPlace(&dx, layerNormBackward(dn1, x: s.xIn, weight: b.ln1.w, eps: eps))
        }
        return loss
    }
}

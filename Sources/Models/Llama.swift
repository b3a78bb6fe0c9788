// Llama (Touvron et al. 2023) as Hugging Face `modeling_llama.py` computes it, which is also
// SmolLM2. Per block:
//   h = x + o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   with n = RMSNorm(x)
//   y = h + down_proj(silu(gate_proj(m)) · up_proj(m))                        with m = RMSNorm(h)
// then a final RMSNorm and the LM head (tied to the embedding when the config says so).
// Qwen3 is this model plus a per-head RMSNorm on q and k before RoPE (see Qwen3.swift), so the
// block takes optional q/k norms. q|k|v and gate|up are fused into single matrices at load.
import CKernels
import TensorCore

public struct LlamaModel: CausalLM {
    public let config: ModelConfig
    package var embed: Tensor                 // [V, C]
    package var blocks: [Block]
    package var norm: Tensor                  // [C]
    package var lmHead: Tensor                // [V, C], the embedding itself when tied
    package var rope: RotaryEmbedding
    package var shape: AttentionShape

    package struct Block: Sendable {
        package var inputNorm: Tensor         // [C]
        package var qkv: Linear               // [Hq·D + 2·Hkv·D, C]
        package var qNorm: Tensor?            // [D] (Qwen3)
        package var kNorm: Tensor?            // [D] (Qwen3)
        package var o: Linear                 // [C, Hq·D]
        package var postNorm: Tensor          // [C]
        package var gateUp: Linear            // [2F, C]
        package var down: Linear              // [C, F]
    }

    /// The tensors this architecture reads, by Hugging Face name, with their shapes.
    public static func weightTable(_ c: ModelConfig) -> WeightTable {
        var t = WeightTable()
        t.add("model.embed_tokens.weight", [c.vocabSize, c.hidden])
        for i in 0..<c.layers {
            let p = "model.layers.\(i)."
            t.add(p + "input_layernorm.weight", [c.hidden])
            t.add(p + "self_attn.q_proj.weight", [c.qDim, c.hidden])
            t.add(p + "self_attn.k_proj.weight", [c.kvDim, c.hidden])
            t.add(p + "self_attn.v_proj.weight", [c.kvDim, c.hidden])
            t.add(p + "self_attn.o_proj.weight", [c.hidden, c.qDim])
            if c.architecture == .qwen3 {
                t.add(p + "self_attn.q_norm.weight", [c.headDim])
                t.add(p + "self_attn.k_norm.weight", [c.headDim])
            }
            t.add(p + "post_attention_layernorm.weight", [c.hidden])
            t.add(p + "mlp.gate_proj.weight", [c.intermediate, c.hidden])
            t.add(p + "mlp.up_proj.weight", [c.intermediate, c.hidden])
            t.add(p + "mlp.down_proj.weight", [c.hidden, c.intermediate])
        }
        t.add("model.norm.weight", [c.hidden])
        if !c.tieEmbeddings { t.add("lm_head.weight", [c.vocabSize, c.hidden]) }
        // Tied checkpoints sometimes also store the shared matrix under lm_head.
        if c.tieEmbeddings { t.ignorable = { $0 == "lm_head.weight" } }
        return t
    }

    public init(config c: ModelConfig, weights source: WeightSource) throws {
        let w = try Self.weightTable(c).load(from: source)
        config = c
        embed = w["model.embed_tokens.weight"]!
        norm = w["model.norm.weight"]!
        lmHead = c.tieEmbeddings ? embed : w["lm_head.weight"]!
        rope = RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta, style: .halves)
        shape = AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        blocks = (0..<c.layers).map { i in
            let p = "model.layers.\(i)."
            func lin(_ n: String) -> Linear { Linear(weight: w[p + n + ".weight"]!) }
            return Block(
                inputNorm: w[p + "input_layernorm.weight"]!,
                qkv: .fused([lin("self_attn.q_proj"), lin("self_attn.k_proj"), lin("self_attn.v_proj")]),
                qNorm: w[p + "self_attn.q_norm.weight"], kNorm: w[p + "self_attn.k_norm.weight"],
                o: lin("self_attn.o_proj"),
                postNorm: w[p + "post_attention_layernorm.weight"]!,
                gateUp: .fused([lin("mlp.gate_proj"), lin("mlp.up_proj")]),
                down: lin("mlp.down_proj"))
        }
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache, logits mode: LogitsMode) throws -> Tensor {
        let table = rope.table(positions: try positions(batch, cache: cache))
        var x = embedding(embed, batch.allTokens)                                   // [N, C]
        for (l, b) in blocks.enumerated() {
            var qkv = b.qkv(rmsNorm(x, weight: b.inputNorm, eps: config.normEps))   // [N, Hq·D + 2·Hkv·D]
            normAndRotate(&qkv, shape: shape, rope: rope, table: table, qNorm: b.qNorm, kNorm: b.kNorm, eps: config.normEps)
            let a = attend(qkv: qkv, batch: batch, cache: cache, layer: l, shape: shape)  // [N, Hq·D]
            addInPlace(&x, b.o(a))
            let gu = b.gateUp(rmsNorm(x, weight: b.postNorm, eps: config.normEps))  // [N, 2F]
            addInPlace(&x, b.down(swiGLU(gu)))
        }
        let rows = logitRows(batch, mode)
        let h = rows.count == x.rows ? x : gatherRows(x, rows)
        return linear(rmsNorm(h, weight: norm, eps: config.normEps), lmHead)        // [rows, V]
    }
}

/// silu(gate) · up for a fused [N, 2F] activation whose rows are gate | up.
package func swiGLU(_ gu: Tensor) -> Tensor {
    let F = gu.cols / 2
    var out = Tensor(uninitialized: [gu.rows, F])
    gu.storage.withUnsafeBufferPointer { g in
        out.storage.withUnsafeMutableBufferPointer { o in
            for r in 0..<gu.rows {
                let row = g.baseAddress! + r * 2 * F
                sb_silu_mul(o.baseAddress! + r * F, row, row + F, Int64(F))
            }
        }
    }
    return out
}

package func gatherRows(_ x: Tensor, _ rows: [Int]) -> Tensor {
    var out = Tensor(uninitialized: [rows.count, x.cols])
    x.storage.withUnsafeBufferPointer { src in
        out.storage.withUnsafeMutableBufferPointer { dst in
            for (i, r) in rows.enumerated() {
                (dst.baseAddress! + i * x.cols).update(from: src.baseAddress! + r * x.cols, count: x.cols)
            }
        }
    }
    return out
}

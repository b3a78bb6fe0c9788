// GPT-2 (Radford et al. 2019) as Hugging Face `modeling_gpt2.py` computes it:
//   x = wte[ids] + wpe[positions]
//   h = x + c_proj(attention(c_attn(LayerNorm_1(x))))          (fused q|k|v, biases, no RoPE)
//   y = h + mlp.c_proj(gelu_tanh(mlp.c_fc(LayerNorm_2(h))))
// then ln_f and the LM head tied to wte. Differences from Llama: LayerNorm with bias instead of
// RMSNorm, learned absolute positions, GELU MLP, biases everywhere, and Conv1D layers whose
// weights are stored [in, out] (transposed here once at load to the [out, in] Linear layout).
import TensorCore

public struct GPT2Model: CausalLM {
    public let config: ModelConfig
    package var wte: Tensor                   // [V, C]
    package var wpe: Tensor                   // [context, C]
    package var blocks: [Block]
    package var lnF: (w: Tensor, b: Tensor)
    package var shape: AttentionShape

    package struct Block: Sendable {
        package var ln1: (w: Tensor, b: Tensor)
        package var attn: Linear              // [3C, C] + [3C]
        package var proj: Linear              // [C, C] + [C]
        package var ln2: (w: Tensor, b: Tensor)
        package var fc: Linear                // [4C, C] + [4C]
        package var fcProj: Linear            // [C, 4C] + [C]
    }

    public static func weightTable(_ c: ModelConfig) -> WeightTable {
        var t = WeightTable()
        let C = c.hidden, F = c.intermediate
        t.add("wte.weight", [c.vocabSize, C])
        t.add("wpe.weight", [c.contextLength, C])
        for i in 0..<c.layers {
            let p = "h.\(i)."
            t.add(p + "ln_1.weight", [C]); t.add(p + "ln_1.bias", [C])
            t.add(p + "attn.c_attn.weight", [C, 3 * C]); t.add(p + "attn.c_attn.bias", [3 * C])
            t.add(p + "attn.c_proj.weight", [C, C]); t.add(p + "attn.c_proj.bias", [C])
            t.add(p + "ln_2.weight", [C]); t.add(p + "ln_2.bias", [C])
            t.add(p + "mlp.c_fc.weight", [C, F]); t.add(p + "mlp.c_fc.bias", [F])
            t.add(p + "mlp.c_proj.weight", [F, C]); t.add(p + "mlp.c_proj.bias", [C])
        }
        t.add("ln_f.weight", [C]); t.add("ln_f.bias", [C])
        // Old checkpoints carry the causal-mask buffers; the LM head is tied to wte.
        t.ignorable = { $0.hasSuffix(".attn.bias") || $0.hasSuffix(".attn.masked_bias") || $0 == "lm_head.weight" }
        return t
    }

    public init(config c: ModelConfig, weights source: WeightSource) throws {
        let w = try Self.weightTable(c).load(from: PrefixStripped(base: source, prefix: "transformer."))
        config = c
        wte = w["wte.weight"]!
        wpe = w["wpe.weight"]!
        lnF = (w["ln_f.weight"]!, w["ln_f.bias"]!)
        shape = AttentionShape(heads: c.heads, kvHeads: c.heads, headDim: c.headDim)
        blocks = (0..<c.layers).map { i in
            let p = "h.\(i)."
            func conv1D(_ n: String) -> Linear { Linear(weight: w[p + n + ".weight"]!.transposed(), bias: w[p + n + ".bias"]!) }
            return Block(ln1: (w[p + "ln_1.weight"]!, w[p + "ln_1.bias"]!), attn: conv1D("attn.c_attn"), proj: conv1D("attn.c_proj"),
                         ln2: (w[p + "ln_2.weight"]!, w[p + "ln_2.bias"]!), fc: conv1D("mlp.c_fc"), fcProj: conv1D("mlp.c_proj"))
        }
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache, logits mode: LogitsMode) throws -> Tensor {
        let pos = try positions(batch, cache: cache)  // validates ids and context before any lookup
        var x = embedding(wte, batch.allTokens)
        addInPlace(&x, embedding(wpe, pos))
        let eps = config.normEps
        for (l, b) in blocks.enumerated() {
            let qkv = b.attn(layerNorm(x, weight: b.ln1.w, bias: b.ln1.b, eps: eps))   // [N, 3C]
            addInPlace(&x, b.proj(attend(qkv: qkv, batch: batch, cache: cache, layer: l, shape: shape)))
            addInPlace(&x, b.fcProj(geluTanh(b.fc(layerNorm(x, weight: b.ln2.w, bias: b.ln2.b, eps: eps)))))
        }
        let rows = logitRows(batch, mode)
        let h = rows.count == x.rows ? x : gatherRows(x, rows)
        return linear(layerNorm(h, weight: lnF.w, bias: lnF.b, eps: eps), wte)
    }
}

/// A weight source whose names lose a leading prefix (GPT2LMHeadModel saves `transformer.h.0…`,
/// the original GPT-2 checkpoints `h.0…`).
struct PrefixStripped: WeightSource {
    package var base: WeightSource
    package var prefix: String
    var path: String { base.path }
    var names: [String] { base.names.map(strip) }
    func strip(_ n: String) -> String { n.hasPrefix(prefix) ? String(n.dropFirst(prefix.count)) : n }
    func original(_ n: String) -> String { base.shape(of: n) != nil ? n : prefix + n }
    func shape(of name: String) -> [Int]? { base.shape(of: original(name)) }
    func load(_ name: String) throws -> Tensor { try base.load(original(name)) }
}

// GPT-2 (Radford et al. 2019) as Hugging Face `modeling_gpt2.py` computes it:
//   x = wte[ids] + wpe[positions]
//   h = x + c_proj(attention(c_attn(LayerNorm_1(x))))          (fused q|k|v, biases, no RoPE)
//   y = h + mlp.c_proj(gelu_tanh(mlp.c_fc(LayerNorm_2(h))))
// then ln_f and the LM head tied to wte. Differences from Llama: LayerNorm with bias instead of
// RMSNorm, learned absolute positions, GELU MLP, biases everywhere, and Conv1D layers whose
// weights are stored [in, out] (transposed here once at load to the [out, in] Linear layout).
import ModelFormats
import Records
import TensorCore

extension ArchitectureDescriptor {
    public static let gpt2 = ArchitectureDescriptor(
        id: .gpt2, huggingFaceClass: "GPT2LMHeadModel", blockPrefix: "transformer.h.",
        linears: { c in [
            LinearLayer("attn.c_attn", in: c.hidden, out: 3 * c.hidden, LinearSlot(weight: "attn")),
            LinearLayer("attn.c_proj", in: c.hidden, out: c.hidden, LinearSlot(weight: "proj")),
            LinearLayer("mlp.c_fc", in: c.hidden, out: c.intermediate, LinearSlot(weight: "fc")),
            LinearLayer("mlp.c_proj", in: c.intermediate, out: c.hidden, LinearSlot(weight: "fc_proj")),
        ] },
        defaultLoRATargets: ["c_attn"], conv1DWeights: true, usesRoPE: false, hasThinkingMode: false, perHeadQKNorm: false,
        ggufTopLevel: ["token_embd.weight": "wte.weight", "position_embd.weight": "wpe.weight", "output_norm.weight": "ln_f.weight",
                       "output_norm.bias": "ln_f.bias", "output.weight": "lm_head.weight"],
        ggufBlockModules: ["attn_norm": "ln_1", "attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj", "ffn_norm": "ln_2",
                           "ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"],
        ggufBlockPrefix: "h.", ggufPermutesQK: false,
        parseConfig: { json, path in try GPT2Model.config(json, path: path) },
        exportConfig: { c in [
            ("architectures", .array([.string("GPT2LMHeadModel")])), ("model_type", .string("gpt2")), ("n_embd", .int(c.hidden)),
            ("n_head", .int(c.heads)), ("n_layer", .int(c.layers)), ("n_positions", .int(c.contextLength)), ("n_inner", .int(c.intermediate)),
            ("layer_norm_epsilon", .double(Double(c.normEps))), ("activation_function", .string("gelu_new")),
        ] },
        load: { c, source, precision in try GPT2Model(config: c, weights: source, precision: precision) })
}

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

    /// `precision`: GPT-2's linear layers are float32, Q8_0 with `.q8_0` or bf16 with `.bf16` (the
    /// embeddings stay float32); a GGUF file's blocks are not kept (`.native` loads float32), because
    /// Conv1D weights are transposed at load.
    public init(config c: ModelConfig, weights source: WeightSource, precision: WeightPrecision = .f32) throws {
        let w = try Self.weightTable(c).load(from: PrefixStripped(base: source, prefix: "transformer."))
        config = c
        wte = w["wte.weight"]!
        wpe = w["wpe.weight"]!
        lnF = (w["ln_f.weight"]!, w["ln_f.bias"]!)
        shape = AttentionShape(heads: c.heads, kvHeads: c.heads, headDim: c.headDim)
        blocks = (0..<c.layers).map { i in
            let p = "h.\(i)."
            func conv1D(_ n: String) -> Linear {
                let t = w[p + n + ".weight"]!.transposed()
                let q = precision.requantized(t)
                return Linear(matrix: q.map { .quantized($0) } ?? .dense(t), bias: w[p + n + ".bias"]!).interleaved()
            }
            return Block(ln1: (w[p + "ln_1.weight"]!, w[p + "ln_1.bias"]!), attn: conv1D("attn.c_attn"), proj: conv1D("attn.c_proj"),
                         ln2: (w[p + "ln_2.weight"]!, w[p + "ln_2.bias"]!), fc: conv1D("mlp.c_fc"), fcProj: conv1D("mlp.c_proj"))
        }
    }

    static func config(_ json: JSONValue, path: String) throws -> ModelConfig {
        let k = ModelConfig.Keys(json, path: path)
        let C = try k.need("n_embd"), H = try k.need("n_head")
        guard (1...(1 << 24)).contains(C) else { throw ModelError.badConfig(path: path, reason: "n_embd = \(C)") }
        if let act = json["activation_function"]?.string, act != "gelu_new" {
            throw ModelError.badConfig(path: path, reason: "activation_function '\(act)' (only gelu_new is implemented)")
        }
        return ModelConfig(architecture: .gpt2, vocabSize: try k.need("vocab_size"), hidden: C, layers: try k.need("n_layer"),
                           heads: H, kvHeads: H, headDim: C / max(H, 1), intermediate: k.int("n_inner") ?? 4 * C,
                           contextLength: try k.need("n_positions", "n_ctx"), ropeTheta: 0,
                           normEps: Float(json["layer_norm_epsilon"]?.double ?? 1e-5), tieEmbeddings: true)
    }

    public func matrices() -> [WeightMatrix] {
        [.dense(wte), .dense(wpe)] + blocks.flatMap { [$0.attn.matrix, $0.proj.matrix, $0.fc.matrix, $0.fcProj.matrix] }
    }

    public mutating func add(_ delta: Tensor, to slot: LinearSlot, layer: Int) throws {
        guard blocks.indices.contains(layer) else { throw ModelError.noSuchLinear(weight: slot.weight, layer: layer) }
        switch slot.weight {
        case "attn": try blocks[layer].attn.addRows(delta, at: slot.row0)
        case "proj": try blocks[layer].proj.addRows(delta, at: slot.row0)
        case "fc": try blocks[layer].fc.addRows(delta, at: slot.row0)
        case "fc_proj": try blocks[layer].fcProj.addRows(delta, at: slot.row0)
        default: throw ModelError.noSuchLinear(weight: slot.weight, layer: layer)
        }
    }

    /// Hugging Face names and layouts: Conv1D weights go back to [in, out].
    public func huggingFaceTensors() -> [(name: String, tensor: Tensor)] {
        var t: [(name: String, tensor: Tensor)] = [("transformer.wte.weight", wte), ("transformer.wpe.weight", wpe)]
        for (i, b) in blocks.enumerated() {
            let p = "transformer.h.\(i)."
            t.append((p + "ln_1.weight", b.ln1.w)); t.append((p + "ln_1.bias", b.ln1.b))
            for (name, lin) in [("attn.c_attn", b.attn), ("attn.c_proj", b.proj)] {
                t.append((p + name + ".weight", lin.weight.transposed()))
                if let bias = lin.bias { t.append((p + name + ".bias", bias)) }
            }
            t.append((p + "ln_2.weight", b.ln2.w)); t.append((p + "ln_2.bias", b.ln2.b))
            for (name, lin) in [("mlp.c_fc", b.fc), ("mlp.c_proj", b.fcProj)] {
                t.append((p + name + ".weight", lin.weight.transposed()))
                if let bias = lin.bias { t.append((p + name + ".bias", bias)) }
            }
        }
        t.append(("transformer.ln_f.weight", lnF.w)); t.append(("transformer.ln_f.bias", lnF.b))
        return t
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache, logits mode: LogitsMode) throws -> Tensor {
        let x = try hiddenStates(batch, cache: cache, tape: nil)
        let rows = logitRows(batch, mode)
        let h = rows.count == x.rows ? x : gatherRows(x, rows)
        return linear(layerNorm(h, weight: lnF.w, bias: lnF.b, eps: config.normEps), wte)
    }

    /// The blocks: hidden states [N, C] before the final LayerNorm. A training pass gives a tape (LoRA
    /// terms on the linear layers, activations kept for GPT2Training.swift's backward).
    package func hiddenStates(_ batch: ForwardBatch, cache: KVCache, tape: (any ForwardTape)?) throws -> Tensor {
        let pos = try positions(batch, cache: cache)  // validates ids and context before any lookup
        var x = embedding(wte, batch.allTokens)
        addInPlace(&x, embedding(wpe, pos))
        let eps = config.normEps
        for (l, b) in blocks.enumerated() {
            let n1 = layerNorm(x, weight: b.ln1.w, bias: b.ln1.b, eps: eps)
            let qkv = tape.linear(n1, b.attn, layer: l, weight: "attn")                // [N, 3C]
            var probs = tape.probabilities
            let a = attend(qkv: qkv, batch: batch, cache: cache, layer: l, shape: shape, probs: &probs)
            if let probs {   // kept only for a training pass that goes on to its backward
                tape.keep([(x, .input), (n1, .attentionNorm), (qkv, .qkv), (a, .attention)], layer: l)
                tape?.keepProbabilities(probs, layer: l)
            }
            addInPlace(&x, tape.linear(a, b.proj, layer: l, weight: "proj"))
            let n2 = layerNorm(x, weight: b.ln2.w, bias: b.ln2.b, eps: eps)
            let f = tape.linear(n2, b.fc, layer: l, weight: "fc")
            let g = geluTanh(f)
            if probs != nil { tape.keep([(x, .middle), (n2, .mlpNorm), (f, .mlpUp), (g, .mlpActivation)], layer: l) }
            addInPlace(&x, tape.linear(g, b.fcProj, layer: l, weight: "fc_proj"))
        }
        return x
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

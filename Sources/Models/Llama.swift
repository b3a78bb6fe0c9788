// Llama (Touvron et al. 2023) as Hugging Face `modeling_llama.py` computes it, which is also
// SmolLM2. Per block:
//   h = x + o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   with n = RMSNorm(x)
//   y = h + down_proj(silu(gate_proj(m)) · up_proj(m))                        with m = RMSNorm(h)
// then a final RMSNorm and the LM head (tied to the embedding when the config says so).
// Qwen3 is this model plus a per-head RMSNorm on q and k before RoPE (see Qwen3.swift), so the
// block takes optional q/k norms. q|k|v and gate|up are fused into single matrices at load.
import CKernels
import ModelFormats
import Records
import TensorCore

extension ArchitectureDescriptor {
    public static let llama = llamaFamily(.llama, huggingFaceClass: "LlamaForCausalLM", tiedByDefault: false, permutedQK: true)

    /// A Llama-style architecture: the same block, weight names and LoRA layout; variants differ in
    /// config defaults, GGUF conventions and chat behaviour (Qwen3: q/k norms via the weight table).
    public static func llamaFamily(_ id: Architecture, huggingFaceClass: String, tiedByDefault: Bool, permutedQK: Bool,
                                   thinking: Bool = false, qkNorm: Bool = false) -> ArchitectureDescriptor {
        ArchitectureDescriptor(
            id: id, huggingFaceClass: huggingFaceClass, blockPrefix: "model.layers.",
            linears: { c in [
                LinearLayer("self_attn.q_proj", in: c.hidden, out: c.qDim, LinearSlot(weight: "qkv", row0: 0)),
                LinearLayer("self_attn.k_proj", in: c.hidden, out: c.kvDim, LinearSlot(weight: "qkv", row0: c.qDim)),
                LinearLayer("self_attn.v_proj", in: c.hidden, out: c.kvDim, LinearSlot(weight: "qkv", row0: c.qDim + c.kvDim)),
                LinearLayer("self_attn.o_proj", in: c.qDim, out: c.hidden, LinearSlot(weight: "o")),
                LinearLayer("mlp.gate_proj", in: c.hidden, out: c.intermediate, LinearSlot(weight: "gate_up", row0: 0)),
                LinearLayer("mlp.up_proj", in: c.hidden, out: c.intermediate, LinearSlot(weight: "gate_up", row0: c.intermediate)),
                LinearLayer("mlp.down_proj", in: c.intermediate, out: c.hidden, LinearSlot(weight: "down")),
            ] },
            defaultLoRATargets: ["q_proj", "v_proj"], conv1DWeights: false, usesRoPE: true, hasThinkingMode: thinking, perHeadQKNorm: qkNorm,
            ggufTopLevel: ["token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"],
            ggufBlockModules: ["attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                               "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm",
                               "attn_k_norm": "self_attn.k_norm", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
                               "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"],
            ggufBlockPrefix: "model.layers.", ggufPermutesQK: permutedQK,
            parseConfig: { json, path in try LlamaModel.config(json, path: path, architecture: id, tiedByDefault: tiedByDefault) },
            exportConfig: { c in [
                ("architectures", .array([.string(huggingFaceClass)])), ("model_type", .string(id.rawValue)),
                ("hidden_size", .int(c.hidden)), ("intermediate_size", .int(c.intermediate)), ("num_hidden_layers", .int(c.layers)),
                ("num_attention_heads", .int(c.heads)), ("num_key_value_heads", .int(c.kvHeads)), ("head_dim", .int(c.headDim)),
                ("max_position_embeddings", .int(c.contextLength)), ("rms_norm_eps", .double(Double(c.normEps))),
                ("rope_theta", .double(Double(c.ropeTheta))), ("hidden_act", .string("silu")), ("attention_bias", .bool(false)),
                ("mlp_bias", .bool(false)),
            ] },
            load: { c, source, precision in try LlamaModel(config: c, weights: source, precision: precision) })
    }
}

public struct LlamaModel: CausalLM {
    public let config: ModelConfig
    package var embed: WeightMatrix           // [V, C]
    package var blocks: [Block]
    package var norm: Tensor                  // [C]
    package var lmHead: WeightMatrix          // [V, C], the embedding itself when tied
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
            if c.architecture.descriptor.perHeadQKNorm {
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

    public init(config c: ModelConfig, weights source: WeightSource, precision: WeightPrecision = .f32) throws {
        let table = Self.weightTable(c)
        // Matrices: the embedding, the LM head and every linear layer; norms stay float32.
        let matrices = Set(table.expected.map(\.name).filter { $0.hasSuffix("_proj.weight") || $0 == "model.embed_tokens.weight" || $0 == "lm_head.weight" })
        let m = try table.load(from: source, precision: precision, matrices: matrices)
        func vector(_ name: String) -> Tensor { m[name]!.dense }   // norms: always float32
        config = c
        // Q4_0/Q4_1/Q8_0 matrices are interleaved for the integer kernels once fused.
        embed = m["model.embed_tokens.weight"]!.interleaved()
        norm = vector("model.norm.weight")
        lmHead = c.tieEmbeddings ? embed : m["lm_head.weight"]!.interleaved()
        rope = RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta, style: .halves)
        shape = AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        blocks = (0..<c.layers).map { i in
            let p = "model.layers.\(i)."
            func lin(_ n: String) -> Linear { Linear(matrix: m[p + n + ".weight"]!) }
            return Block(
                inputNorm: vector(p + "input_layernorm.weight"),
                qkv: Linear.fused([lin("self_attn.q_proj"), lin("self_attn.k_proj"), lin("self_attn.v_proj")]).interleaved(),
                qNorm: m[p + "self_attn.q_norm.weight"]?.dense, kNorm: m[p + "self_attn.k_norm.weight"]?.dense,
                o: lin("self_attn.o_proj").interleaved(),
                postNorm: vector(p + "post_attention_layernorm.weight"),
                gateUp: Linear.fused([lin("mlp.gate_proj"), lin("mlp.up_proj")]).interleaved(),
                down: lin("mlp.down_proj").interleaved())
        }
    }

    /// config.json of a Llama-family model.
    static func config(_ json: JSONValue, path: String, architecture: Architecture, tiedByDefault: Bool) throws -> ModelConfig {
        let k = ModelConfig.Keys(json, path: path)
        let C = try k.need("hidden_size"), H = try k.need("num_attention_heads")
        // transformers ≥ 5 nests rope_theta in rope_parameters; older configs have it at the top.
        let theta = json["rope_theta"]?.double ?? json["rope_parameters"]?["rope_theta"]?.double ?? 10000
        if let scaling = json["rope_scaling"] ?? json["rope_parameters"], let kind = scaling["rope_type"]?.string ?? scaling["type"]?.string,
           kind != "default" {
            throw ModelError.badConfig(path: path, reason: "rope scaling '\(kind)' is not implemented")
        }
        if let act = json["hidden_act"]?.string, act != "silu" {
            throw ModelError.badConfig(path: path, reason: "hidden_act '\(act)' (only silu is implemented)")
        }
        if json["attention_bias"]?.bool == true || json["mlp_bias"]?.bool == true {
            throw ModelError.badConfig(path: path, reason: "attention/MLP biases are not implemented for \(architecture)")
        }
        return ModelConfig(architecture: architecture, vocabSize: try k.need("vocab_size"), hidden: C, layers: try k.need("num_hidden_layers"),
                           heads: H, kvHeads: k.int("num_key_value_heads") ?? H, headDim: k.int("head_dim") ?? C / max(H, 1),
                           intermediate: try k.need("intermediate_size"), contextLength: k.int("max_position_embeddings") ?? 2048,
                           ropeTheta: Float(theta), normEps: Float(json["rms_norm_eps"]?.double ?? 1e-6),
                           tieEmbeddings: json["tie_word_embeddings"]?.bool ?? tiedByDefault)
    }

    public mutating func add(_ delta: Tensor, to slot: LinearSlot, layer: Int) throws {
        guard blocks.indices.contains(layer) else { throw ModelError.noSuchLinear(weight: slot.weight, layer: layer) }
        switch slot.weight {
        case "qkv": try blocks[layer].qkv.addRows(delta, at: slot.row0)
        case "o": try blocks[layer].o.addRows(delta, at: slot.row0)
        case "gate_up": try blocks[layer].gateUp.addRows(delta, at: slot.row0)
        case "down": try blocks[layer].down.addRows(delta, at: slot.row0)
        default: throw ModelError.noSuchLinear(weight: slot.weight, layer: layer)
        }
    }

    /// Hugging Face names and layouts: the fused q|k|v and gate|up are split back.
    public func huggingFaceTensors() -> [(name: String, tensor: Tensor)] {
        let c = config
        var t: [(name: String, tensor: Tensor)] = [("model.embed_tokens.weight", embed.dense)]
        for (i, b) in blocks.enumerated() {
            let p = "model.layers.\(i)."
            t.append((p + "input_layernorm.weight", b.inputNorm))
            let qkv = b.qkv.weight, gateUp = b.gateUp.weight   // float32 once (a dequantised copy when quantised)
            t.append((p + "self_attn.q_proj.weight", qkv.rows(0..<c.qDim)))
            t.append((p + "self_attn.k_proj.weight", qkv.rows(c.qDim..<(c.qDim + c.kvDim))))
            t.append((p + "self_attn.v_proj.weight", qkv.rows((c.qDim + c.kvDim)..<(c.qDim + 2 * c.kvDim))))
            t.append((p + "self_attn.o_proj.weight", b.o.weight))
            if let q = b.qNorm { t.append((p + "self_attn.q_norm.weight", q)) }
            if let k = b.kNorm { t.append((p + "self_attn.k_norm.weight", k)) }
            t.append((p + "post_attention_layernorm.weight", b.postNorm))
            t.append((p + "mlp.gate_proj.weight", gateUp.rows(0..<c.intermediate)))
            t.append((p + "mlp.up_proj.weight", gateUp.rows(c.intermediate..<(2 * c.intermediate))))
            t.append((p + "mlp.down_proj.weight", b.down.weight))
        }
        t.append(("model.norm.weight", norm))
        if !c.tieEmbeddings { t.append(("lm_head.weight", lmHead.dense)) }
        return t
    }

    public func matrices() -> [WeightMatrix] {
        [embed] + blocks.flatMap { [$0.qkv.matrix, $0.o.matrix, $0.gateUp.matrix, $0.down.matrix] } + (config.tieEmbeddings ? [] : [lmHead])
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache, logits mode: LogitsMode) throws -> Tensor {
        let x = try hiddenStates(batch, cache: cache, tape: nil)
        let rows = logitRows(batch, mode)
        let h = rows.count == x.rows ? x : gatherRows(x, rows)
        return linear(rmsNorm(h, weight: norm, eps: config.normEps), lmHead)        // [rows, V]
    }

    /// The blocks: hidden states [N, C] before the final norm. A training pass gives a tape (LoRA
    /// terms on the linear layers, activations kept for LlamaTraining.swift's backward).
    package func hiddenStates(_ batch: ForwardBatch, cache: KVCache, tape: (any ForwardTape)?) throws -> Tensor {
        let eps = config.normEps
        let table = rope.table(positions: try positions(batch, cache: cache))
        var x = embedding(embed, batch.allTokens)                                   // [N, C]
        for (l, b) in blocks.enumerated() {
            let n1 = rmsNorm(x, weight: b.inputNorm, eps: eps)
            let projected = tape.linear(n1, b.qkv, layer: l, weight: "qkv")        // [N, Hq·D + 2·Hkv·D]
            var qkv = projected
            normAndRotate(&qkv, shape: shape, rope: rope, table: table, qNorm: b.qNorm, kNorm: b.kNorm, eps: eps)
            var probs = tape.probabilities
            let a = attend(qkv: qkv, batch: batch, cache: cache, layer: l, shape: shape, probs: &probs)  // [N, Hq·D]
            if let probs {   // kept only for a training pass that goes on to its backward
                tape.keep([(x, .input), (n1, .attentionNorm), (projected, .projected), (qkv, .qkv), (a, .attention)], layer: l)
                tape?.keepProbabilities(probs, layer: l)
            }
            addInPlace(&x, tape.linear(a, b.o, layer: l, weight: "o"))
            let n2 = rmsNorm(x, weight: b.postNorm, eps: eps)
            let gu = tape.linear(n2, b.gateUp, layer: l, weight: "gate_up")         // [N, 2F]
            let h = swiGLU(gu)
            if probs != nil { tape.keep([(x, .middle), (n2, .mlpNorm), (gu, .mlpUp), (h, .mlpActivation)], layer: l) }
            addInPlace(&x, tape.linear(h, b.down, layer: l, weight: "down"))
        }
        return x
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

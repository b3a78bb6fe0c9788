// `strawberry merge`: a Hugging Face model directory (config.json, model.safetensors, tokenizer
// files) from a base model with an adapter folded in, loadable by transformers. Weights go back
// to Hugging Face names and layouts: fused q|k|v and gate|up are split, GPT-2's Conv1D weights are
// transposed back to [in, out]. From a GGUF source, tokenizer.json is rebuilt from its vocabulary.
import Foundation
import ModelFormats
import Models
import TensorCore
import Tokenization

public enum HFExport {
    public static func write(_ model: any CausalLM, tokenizer: Tokenizer, chatTemplate: String?, sourcePath: String, to dir: String) throws {
        let fm = FileManager.default
        let tmp = dir + ".tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let c = model.config
        var t: [String: (shape: [Int], data: [Float])] = [:]
        func put(_ name: String, _ x: Tensor) { t[name] = (x.shape, x.storage) }
        func rows(_ x: Tensor, _ r: Range<Int>) -> Tensor { x.rows(r) }
        if let m = model as? LlamaModel {
            put("model.embed_tokens.weight", m.embed)
            for (i, b) in m.blocks.enumerated() {
                let p = "model.layers.\(i)."
                put(p + "input_layernorm.weight", b.inputNorm)
                put(p + "self_attn.q_proj.weight", rows(b.qkv.weight, 0..<c.qDim))
                put(p + "self_attn.k_proj.weight", rows(b.qkv.weight, c.qDim..<(c.qDim + c.kvDim)))
                put(p + "self_attn.v_proj.weight", rows(b.qkv.weight, (c.qDim + c.kvDim)..<(c.qDim + 2 * c.kvDim)))
                put(p + "self_attn.o_proj.weight", b.o.weight)
                if let q = b.qNorm { put(p + "self_attn.q_norm.weight", q) }
                if let k = b.kNorm { put(p + "self_attn.k_norm.weight", k) }
                put(p + "post_attention_layernorm.weight", b.postNorm)
                put(p + "mlp.gate_proj.weight", rows(b.gateUp.weight, 0..<c.intermediate))
                put(p + "mlp.up_proj.weight", rows(b.gateUp.weight, c.intermediate..<(2 * c.intermediate)))
                put(p + "mlp.down_proj.weight", b.down.weight)
            }
            put("model.norm.weight", m.norm)
            if !c.tieEmbeddings { put("lm_head.weight", m.lmHead) }
        } else if let m = model as? GPT2Model {
            put("transformer.wte.weight", m.wte)
            put("transformer.wpe.weight", m.wpe)
            for (i, b) in m.blocks.enumerated() {
                let p = "transformer.h.\(i)."
                put(p + "ln_1.weight", b.ln1.w); put(p + "ln_1.bias", b.ln1.b)
                put(p + "attn.c_attn.weight", b.attn.weight.transposed()); put(p + "attn.c_attn.bias", b.attn.bias!)
                put(p + "attn.c_proj.weight", b.proj.weight.transposed()); put(p + "attn.c_proj.bias", b.proj.bias!)
                put(p + "ln_2.weight", b.ln2.w); put(p + "ln_2.bias", b.ln2.b)
                put(p + "mlp.c_fc.weight", b.fc.weight.transposed()); put(p + "mlp.c_fc.bias", b.fc.bias!)
                put(p + "mlp.c_proj.weight", b.fcProj.weight.transposed()); put(p + "mlp.c_proj.bias", b.fcProj.bias!)
            }
            put("transformer.ln_f.weight", m.lnF.w); put("transformer.ln_f.bias", m.lnF.b)
        } else {
            throw LoRAError(message: "export is not implemented for \(type(of: model))")
        }
        try SafetensorsWriter.write(t, to: tmp + "/model.safetensors")
        try writeTextAtomically(try JSONWriter.string(configJSON(c, tokenizer), pretty: true) + "\n", to: tmp + "/config.json")

        // Tokenizer: copy a Hugging Face source's files, or rebuild tokenizer.json from the vocabulary.
        var copied = false
        if isDirectory(sourcePath) {
            for name in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"] where fileExists(sourcePath + "/" + name) {
                try fm.copyItem(atPath: sourcePath + "/" + name, toPath: tmp + "/" + name)
                copied = true
            }
        }
        if !copied {
            try writeTextAtomically(try JSONWriter.string(tokenizerJSON(tokenizer), pretty: false) + "\n", to: tmp + "/tokenizer.json")
            var tc: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": tokenizer.addBos, "clean_up_tokenization_spaces": false]
            if let e = tokenizer.eosId, let s = tokenizer.token(e) { tc["eos_token"] = s }
            if let b = tokenizer.bosId, let s = tokenizer.token(b) { tc["bos_token"] = s }
            if let p = tokenizer.padId, let s = tokenizer.token(p) { tc["pad_token"] = s }
            if let chatTemplate { tc["chat_template"] = chatTemplate }
            try writeTextAtomically(try JSONWriter.string(tc, pretty: true) + "\n", to: tmp + "/tokenizer_config.json")
        }
        if fm.fileExists(atPath: dir) { try fm.removeItem(atPath: dir) }
        try fm.moveItem(atPath: tmp, toPath: dir)
    }

    static func configJSON(_ c: ModelConfig, _ tok: Tokenizer) -> [String: Any] {
        var j: [String: Any] = ["vocab_size": c.vocabSize, "torch_dtype": "float32", "tie_word_embeddings": c.tieEmbeddings]
        if let b = tok.bosId { j["bos_token_id"] = b }
        if let e = tok.eosId { j["eos_token_id"] = e }
        switch c.architecture {
        case .gpt2:
            j.merge(["architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": c.hidden, "n_head": c.heads, "n_layer": c.layers,
                     "n_positions": c.contextLength, "n_inner": c.intermediate, "layer_norm_epsilon": Double(c.normEps),
                     "activation_function": "gelu_new"]) { $1 }
        case .llama, .qwen3:
            j.merge(["architectures": [c.architecture == .llama ? "LlamaForCausalLM" : "Qwen3ForCausalLM"], "model_type": c.architecture.rawValue,
                     "hidden_size": c.hidden, "intermediate_size": c.intermediate, "num_hidden_layers": c.layers,
                     "num_attention_heads": c.heads, "num_key_value_heads": c.kvHeads, "head_dim": c.headDim,
                     "max_position_embeddings": c.contextLength, "rms_norm_eps": Double(c.normEps), "rope_theta": Double(c.ropeTheta),
                     "hidden_act": "silu", "attention_bias": false, "mlp_bias": false]) { $1 }
        }
        return j
    }

    static func tokenizerJSON(_ t: Tokenizer) -> [String: Any] {
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let pre: [String: Any]
        switch t.preTokenizer {
        case .gpt2: pre = byteLevel
        case .smollm: pre = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
        case .qwen2:
            pre = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": Tokenizer.qwen2Pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false]]]
        }
        var vocab: [String: Any] = [:]
        for (i, tok) in t.bpe.tokens.enumerated() where t.addedById[i] == nil && !tok.hasPrefix("<unused_") { vocab[tok] = i }
        let added: [[String: Any]] = t.addedTokens.sorted { $0.id < $1.id }.map {
            ["id": $0.id, "content": $0.content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false,
             "special": t.specialIds.contains($0.id)]
        }
        for a in t.addedTokens { vocab[a.content] = a.id }
        return ["version": "1.0", "truncation": (), "padding": (), "added_tokens": added,
                "normalizer": t.normalizer == .nfc ? ["type": "NFC"] as [String: Any] : () as Any,
                "pre_tokenizer": pre, "post_processor": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
                "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
                "model": ["type": "BPE", "dropout": (), "unk_token": (), "continuing_subword_prefix": "", "end_of_word_suffix": "",
                          "fuse_unk": false, "byte_fallback": false, "ignore_merges": t.ignoreMerges, "vocab": vocab,
                          "merges": t.bpe.mergeList.map { [$0.0, $0.1] }]]
    }
}

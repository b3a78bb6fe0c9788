"""GGUF fixtures, written with the reference `gguf` package (gguf==0.19.0, numpy 2.x).

Usage: cd Tests/Fixtures && python make_gguf_fixtures.py   (after make_fixtures.py)

- gguf/quant_blocks.gguf + gguf/quant_expected.json: random blocks of every type Strawberry
  dequantises (F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K), and gguf's own dequantisation.
- gguf/all_types.gguf + gguf/all_types.json: one metadata key of every value type, arrays nested.
- models/<arch>/model.gguf: each tiny model converted as llama.cpp's converter does it (tensor
  names, Llama q/k rows permuted per head, GPT-2 Conv1D weights transposed, tokenizer.ggml.*),
  so loading it must give exactly the safetensors model's logits.
"""
import json, os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import load_file

rng = np.random.default_rng(7)
os.makedirs("gguf", exist_ok=True)


def random_blocks(qtype, n_blocks):
    block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, nbytes), dtype=np.uint8)
    # Keep fp16 scales finite and modest: overwrite them with random halves in [-2, 2].
    def put_half(offset):
        raw[:, offset:offset + 2] = rng.uniform(-2, 2, size=n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    if qtype in (Q.Q4_0, Q.Q8_0): put_half(0)
    elif qtype == Q.Q4_1: put_half(0); put_half(2)
    elif qtype == Q.Q4_K: put_half(0); put_half(2)
    elif qtype == Q.Q6_K: put_half(208)
    return raw


def quant_fixture():
    w = gguf.GGUFWriter("gguf/quant_blocks.gguf", "llama")
    expected = {}
    values = rng.standard_normal(512).astype(np.float32)
    w.add_tensor("f32", values)
    expected["f32"] = values.tolist()
    h = values.astype(np.float16)
    w.add_tensor("f16", h)
    expected["f16"] = h.astype(np.float32).tolist()
    bf = (values.view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("bf16", bf.view(np.uint8).reshape(1, -1), raw_dtype=Q.BF16)
    expected["bf16"] = (bf.astype(np.uint32) << 16).view(np.float32).tolist()
    for name, qt in [("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1), ("q8_0", Q.Q8_0), ("q4_k", Q.Q4_K), ("q6_k", Q.Q6_K)]:
        block = gguf.GGML_QUANT_SIZES[qt][0]
        raw = random_blocks(qt, 4)
        n = 4 * block
        w.add_tensor(name, raw, raw_dtype=qt)
        expected[name] = gguf.quants.dequantize(raw, qt).reshape(-1).astype(np.float32).tolist()
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    json.dump(expected, open("gguf/quant_expected.json", "w"), sort_keys=True)


def all_types_fixture():
    w = gguf.GGUFWriter("gguf/all_types.gguf", "llama")
    T = gguf.GGUFValueType
    w.add_uint8("t.u8", 200); w.add_int8("t.i8", -100); w.add_uint16("t.u16", 60000); w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -2000000000); w.add_float32("t.f32", 1.5)
    w.add_bool("t.bool", True); w.add_string("t.string", "straw🍓berry"); w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62)); w.add_float64("t.f64", 2.718281828459045)
    w.add_array("t.array_i32", [1, -2, 3]); w.add_array("t.array_str", ["a", "", "ccc"])
    w.add_array("t.array_nested", [[1, 2], [3]])
    w.add_tensor("tiny", np.arange(6, dtype=np.float32).reshape(2, 3))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    json.dump({"t.u8": 200, "t.i8": -100, "t.u16": 60000, "t.i16": -30000, "t.u32": 4000000000, "t.i32": -2000000000,
               "t.f32": 1.5, "t.bool": True, "t.string": "straw🍓berry", "t.u64": 2**63 + 5, "t.i64": -(2**62),
               "t.f64": 2.718281828459045, "t.array_i32": [1, -2, 3], "t.array_str": ["a", "", "ccc"],
               "t.array_nested": [[1, 2], [3]]}, open("gguf/all_types.json", "w"), ensure_ascii=False, sort_keys=True)


def permute(w, n_head):
    """llama.cpp convert_hf_to_gguf LlamaModel.permute: rows regrouped per head for its RoPE."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


LLAMA_NAMES = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
               "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
               "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
               "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
GPT2_NAMES = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
              "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}


def model_fixture(arch, pre):
    d = f"models/{arch}"
    cfg = json.load(open(f"{d}/config.json"))
    tok = json.load(open(f"{d}/tokenizer.json"))
    sd = load_file(f"{d}/model.safetensors")
    w = gguf.GGUFWriter(f"{d}/model.gguf", arch)
    if arch == "gpt2":
        w.add_context_length(cfg["n_positions"]); w.add_embedding_length(cfg["n_embd"]); w.add_block_count(cfg["n_layer"])
        w.add_feed_forward_length(4 * cfg["n_embd"]); w.add_head_count(cfg["n_head"])
        w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
        for name, t in sd.items():
            name = name.removeprefix("transformer.")
            if name in ("lm_head.weight",) or name.endswith((".attn.bias", ".attn.masked_bias")): continue
            if name.endswith(".weight") and any(k in name for k in ("c_attn", "c_proj", "c_fc")): t = t.T.copy()
            top = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight",
                   "ln_f.bias": "output_norm.bias"}
            if name in top: g = top[name]
            else:
                _, n, *rest = name.split(".")
                module, leaf = ".".join(rest[:-1]), rest[-1]
                g = f"blk.{n}.{GPT2_NAMES[module]}.{leaf}"
            w.add_tensor(g, t)
    else:
        H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        w.add_context_length(cfg["max_position_embeddings"]); w.add_embedding_length(cfg["hidden_size"])
        w.add_block_count(cfg["num_hidden_layers"]); w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(H); w.add_head_count_kv(KV); w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        rope = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta")
        w.add_rope_freq_base(rope)
        if "head_dim" in cfg: w.add_key_length(cfg["head_dim"]); w.add_value_length(cfg["head_dim"])
        for name, t in sd.items():
            if name == "model.embed_tokens.weight": g = "token_embd.weight"
            elif name == "model.norm.weight": g = "output_norm.weight"
            elif name == "lm_head.weight":
                if cfg.get("tie_word_embeddings"): continue
                g = "output.weight"
            else:
                _, _, n, *rest = name.split(".")
                module, leaf = ".".join(rest[:-1]), rest[-1]
                g = f"blk.{n}.{LLAMA_NAMES[module]}.{leaf}"
                if arch == "llama" and module == "self_attn.q_proj": t = permute(t, H)
                if arch == "llama" and module == "self_attn.k_proj": t = permute(t, KV)
            w.add_tensor(g, t)
    vocab = tok["model"]["vocab"]
    added = {a["id"]: a["content"] for a in tok["added_tokens"]}
    n = max(list(vocab.values()) + list(added.keys())) + 1
    tokens = [""] * n
    for t, i in vocab.items(): tokens[i] = t
    for i, t in added.items(): tokens[i] = t
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(pre); w.add_token_list(tokens)
    w.add_token_types([3 if i in added else 1 for i in range(n)])
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tok["model"]["merges"]])
    w.add_eos_token_id(tokens.index("<|im_end|>")); w.add_bos_token_id(tokens.index("<|endoftext|>"))
    tc = f"{d}/chat_template.jinja"
    if os.path.exists(tc): w.add_chat_template(open(tc).read())
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


if __name__ == "__main__":
    quant_fixture()
    all_types_fixture()
    model_fixture("gpt2", "gpt-2")
    model_fixture("llama", "smollm")
    model_fixture("qwen3", "qwen2")
    from make_fixtures import manifest
    manifest()
    print("ok")

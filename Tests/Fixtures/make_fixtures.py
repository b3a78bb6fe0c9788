"""PyTorch reference fixtures for Strawberry's numerics tests.

Pinned: torch==2.15.0, transformers==5.23.0, tokenizers==0.23.3, safetensors==0.8.0, gguf==0.19.0
Usage:  cd Tests/Fixtures && python make_fixtures.py [ASSETS_DIR]

Writes, for each architecture (gpt2, llama, qwen3), a tiny random model directory
models/<arch>/ (config.json, model.safetensors, tokenizer.json, tokenizer_config.json) and
models/<arch>/reference.json with logits for fixed inputs: one sequence, and a batch of three
right-padded sequences with an attention mask. With ASSETS_DIR holding the SmolLM2 GGUF, also
smollm2_reference.json: prompt ids, top-5 next-token ids/logits and 24 greedy ids from transformers
running the GGUF dequantized to float32. MANIFEST.sha256 (written by make_gguf_fixtures.py, the last step) covers every fixture file.
"""
import hashlib, json, os, sys
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, normalizers, Regex
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM, PreTrainedTokenizerFast, AutoModelForCausalLM, AutoTokenizer)

torch.manual_seed(0)
CORPUS = ["How many r's are in the word 'strawberry'?", "Spell the word necessary: n-e-c-e-s-s-a-r-y.",
          "The quick brown fox jumps over the lazy dog 1234567890.", "What is the 3rd letter in 'queue'?"] * 20
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tiny_tokenizer(style, vocab_size):
    """A byte-level BPE trained on CORPUS with the pre-tokenizer of the given family."""
    tok = Tokenizer(models.BPE())
    if style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif style == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    else:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def save_model(arch, model, tok, chat_template):
    d = f"models/{arch}"
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", bos_token="<|endoftext|>")
    fast.chat_template = chat_template
    fast.save_pretrained(d)
    for junk in ("generation_config.json", "special_tokens_map.json"):
        if os.path.exists(f"{d}/{junk}"): os.remove(f"{d}/{junk}")
    return d, fast


def corpus_ids(fast, d):
    """Ids for the whole tokenizer corpus, so tokenizer.json parity covers each pre-tokenizer family."""
    from tokenizer_corpus import corpus
    rows = [{"text": t, "ids": fast(t, add_special_tokens=False)["input_ids"]} for t in corpus()]
    with open(f"{d}/tokenizer_corpus_ids.json", "w", encoding="utf-8") as f:
        json.dump({"cases": rows}, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write("\n")


def reference(arch, model, fast, d):
    corpus_ids(fast, d)
    texts = ["How many r's are in the word 'strawberry'?", "Spell 'queue'.", "The 3rd letter is r"]
    single = fast(texts[0], add_special_tokens=False)["input_ids"]
    seqs = [fast(t, add_special_tokens=False)["input_ids"] for t in texts]
    T = max(map(len, seqs))
    pad = fast.convert_tokens_to_ids("<|endoftext|>")
    ids = torch.tensor([s + [pad] * (T - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in seqs])
    with torch.no_grad():
        one = model(torch.tensor([single])).logits[0]
        batch = model(ids, attention_mask=mask).logits
    ref = {"arch": arch, "single": {"ids": single, "logits": one.flatten().tolist(), "vocab": one.shape[-1]},
           "batch": {"sequences": seqs, "logits": [batch[i, :len(s)].flatten().tolist() for i, s in enumerate(seqs)]}}
    with open(f"{d}/reference.json", "w") as f:
        json.dump(ref, f, sort_keys=True)


def build_models():
    chatml = open("templates/smollm2.jinja").read() if os.path.exists("templates/smollm2.jinja") else None
    qwen_template = open("templates/qwen3.jinja").read()
    # GPT-2: LayerNorm, learned positions, Conv1D, GELU-tanh.
    tok = tiny_tokenizer("gpt2", 384)
    m = GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                   resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)).eval()
    d, fast = save_model("gpt2", m, tok, chatml)
    reference("gpt2", m, fast, d)
    # Llama (SmolLM2-like): GQA 4 query heads over 2 kv heads, tied embeddings, SmolLM2 digit splitting.
    tok = tiny_tokenizer("smollm", 384)
    m = LlamaForCausalLM(LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                     max_position_embeddings=64, rope_theta=100000.0, rms_norm_eps=1e-5,
                                     tie_word_embeddings=True)).eval()
    d, fast = save_model("llama", m, tok, chatml)
    reference("llama", m, fast, d)
    # Qwen3: q/k norm, head_dim decoupled from hidden (16 × 4 heads = 64 ≠ 32), untied head here.
    tok = tiny_tokenizer("qwen2", 384)
    m = Qwen3ForCausalLM(Qwen3Config(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                     max_position_embeddings=64, rope_theta=1000000.0, rms_norm_eps=1e-6,
                                     tie_word_embeddings=False)).eval()
    with torch.no_grad():  # random norm weights so the q/k norms are exercised, not all-ones
        for layer in m.model.layers:
            layer.self_attn.q_norm.weight.uniform_(0.5, 1.5)
            layer.self_attn.k_norm.weight.uniform_(0.5, 1.5)
    d, fast = save_model("qwen3", m, tok, qwen_template)
    reference("qwen3", m, fast, d)


def smollm2_reference(assets):
    gguf = f"{assets}/SmolLM2-135M-Instruct.Q4_1.gguf"
    if not os.path.exists(gguf):
        print("no SmolLM2 GGUF; skipping its reference")
        return
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(assets, gguf_file=os.path.basename(gguf), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(assets, gguf_file=os.path.basename(gguf))
    question = "How many r's are in the word 'strawberry'?"
    prompts = {"plain": question, "chat": tok.apply_chat_template([{"role": "user", "content": question}],
                                                                   tokenize=False, add_generation_prompt=True)}
    out = {}
    for name, text in prompts.items():
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
            top = torch.topk(logits, 5)
            gen = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, eos_token_id=None,
                                 pad_token_id=tok.eos_token_id)[0, len(ids):].tolist()
        out[name] = {"text": text, "prompt_ids": ids, "top5_ids": top.indices.tolist(), "top5_logits": top.values.tolist(),
                     "greedy_ids": gen}
    with open("smollm2_reference.json", "w") as f:
        json.dump(out, f, sort_keys=True, indent=1)


def manifest():
    files = sorted(os.path.join(r, f)[2:] for r, _, fs in os.walk(".") for f in fs
                   if not f.endswith((".py", ".pyc")) and f != "MANIFEST.sha256" and "__pycache__" not in r)
    with open("MANIFEST.sha256", "w") as out:
        for f in files:
            out.write(f"{hashlib.sha256(open(f, 'rb').read()).hexdigest()}  {f}\n")


if __name__ == "__main__":
    build_models()
    smollm2_reference(sys.argv[1] if len(sys.argv) > 1 else "../../assets")
    # make_gguf_fixtures.py runs next and writes MANIFEST.sha256 (see `make fixtures`).

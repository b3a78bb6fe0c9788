"""Tokenizer parity fixtures: ids from Hugging Face `tokenizers` for the corpus in tokenizer_corpus.py.

Usage: python Tests/Fixtures/make_tokenizer_fixtures.py ASSETS_DIR   (after scripts/fetch-assets.sh)
Pinned: tokenizers==0.23.3, gguf==0.19.0 (other versions should give the same ids).

- gpt2_tokenizer_ids.json: GPT-2 encoder.json + vocab.bpe, ByteLevel pre-tokenizer (as GPT2TokenizerFast).
- smollm2_tokenizer_ids.json: the vocabulary and merges stored in SmolLM2-135M-Instruct.Q4_1.gguf with
  SmolLM2's tokenizer.json pipeline (Digits(individual_digits) + ByteLevel), special tokens matched.
"""
import json, sys
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, AddedToken
from tokenizer_corpus import corpus

def dump(path, tok, strings):
    rows = [{"text": s, "ids": tok.encode(s, add_special_tokens=False).ids} for s in strings]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"cases": rows}, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write("\n")

def main(assets):
    strings = corpus()
    vocab = json.load(open(f"{assets}/gpt2/encoder.json", encoding="utf-8"))
    merges = [tuple(l.split(" ")) for l in open(f"{assets}/gpt2/vocab.bpe", encoding="utf-8").read().split("\n")[1:] if l]
    gpt2 = Tokenizer(models.BPE(vocab, merges))
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    dump("gpt2_tokenizer_ids.json", gpt2, strings)

    import gguf
    r = gguf.GGUFReader(f"{assets}/SmolLM2-135M-Instruct.Q4_1.gguf")
    f = r.fields
    def strs(name):
        fld = f[name]
        return [bytes(fld.parts[i]).decode("utf-8") for i in fld.data]
    tokens = strs("tokenizer.ggml.tokens")
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    smerges = [tuple(m.split(" ")) for m in strs("tokenizer.ggml.merges")]
    smol = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, smerges))
    smol.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    smol.decoder = decoders.ByteLevel()
    smol.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty in (3, 4)])
    dump("smollm2_tokenizer_ids.json", smol, strings)
    print(f"{len(strings)} strings; special tokens in SmolLM2: {sum(ty in (3, 4) for ty in types)}")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")

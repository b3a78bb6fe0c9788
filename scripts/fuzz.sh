#!/usr/bin/env bash
# Runs one libFuzzer target of fuzz/ (built by `make fuzz-build`) for a time or a number of runs,
# from seeds that are committed fixtures, keeping its growing corpus in out/fuzz/TARGET/corpus.
#   scripts/fuzz.sh TARGET SECONDS [RUNS]
# Exit status: 0 when no input crashed, hung or leaked; libFuzzer's non-zero status otherwise, with
# the input saved as out/fuzz/TARGET/crash-* (reproduce with: FUZZ_TARGET=TARGET BIN that-file).
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1 seconds=${2:-60} runs=${3:--1}
bin=.build-fuzz/debug/StrawberryFuzz
fx=Tests/Fixtures
out=out/fuzz/$target
mkdir -p "$out/corpus"
case $target in
  gguf)           seeds=("$fx/gguf/all_types.gguf" "$fx/gguf/quant_blocks.gguf" "$fx/models/llama/model.gguf") ;;
  safetensors)    seeds=(fuzz/seeds/safetensors/*) ;;
  tokenizer_json) seeds=("$fx/models/llama/tokenizer.json" "$fx/models/gpt2/tokenizer.json") ;;
  chat_template)  seeds=("$fx"/templates/*.jinja) ;;
  json)           seeds=("$fx/gguf/all_types.json" "$fx/models/llama/config.json" "$fx/models/llama/tokenizer_config.json") ;;
  train_config)   seeds=(configs/*.yaml) ;;
  eval_jsonl)     seeds=(fuzz/seeds/eval_jsonl/*) ;;
  answers)        seeds=(fuzz/seeds/answers/*) ;;
  tiktoken)       seeds=(fuzz/seeds/tiktoken/*) ;;
  release_records) seeds=(fuzz/seeds/release_records/*) ;;
  params_yaml)    seeds=(params.yaml fuzz/seeds/params_yaml/*) ;;
  store)          seeds=(fuzz/seeds/store/*) ;;
  *) echo "unknown fuzz target $target" >&2; exit 2 ;;
esac
for s in "${seeds[@]}"; do cp -n "$s" "$out/corpus/" 2>/dev/null || true; done
# Bounded per input (10 s, 2 GiB) so a hang or a runaway allocation is a finding, not a stuck run.
FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0 "$bin" "$out/corpus" -max_total_time="$seconds" -runs="$runs" \
  -seed="${FUZZ_SEED:-0}" -timeout=10 -rss_limit_mb=2048 -max_len=131072 -print_final_stats=1 -artifact_prefix="$out/" 2>&1 | tee "$out/last-run.log" \
  | grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==ERROR|SUMMARY|Done [0-9]+ runs|INFO: -max_total_time)" || true
exit "${PIPESTATUS[0]}"

#!/usr/bin/env bash
# Issue 15's measurements, side by side in one run, written to results/quantized/ (docs/performance.md
# cites them): `bench generate` in float32 and with the GGUF's own blocks (with the PyTorch and
# llama.cpp peers when installed), the three quantised kernels against each other, the evaluation
# of a fixed 300-question sample in f32 / native / q8_0 (accuracy and questions/s), and the same
# evaluation with two CPU-bound processes beside it, and LoRA training (attention targets and all
# linear layers) beside PyTorch + PEFT. About 20 minutes on 2 cores.
#
# Usage: scripts/bench-quantized.sh [OUT_DIR]   (after `make build` and `make demo`'s data step)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/quantized}
BIN=${BIN:-.build/release/strawberry}
MODEL=${MODEL:-assets/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA=${DATA:-out/data-smollm2}
WORK=$(mktemp -d /tmp/strawberry-bench-quantized.XXXXXX)
BUSY_PIDS=()
cleanup() {
    for p in "${BUSY_PIDS[@]}"; do kill -- -"$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
[ -d "$DATA" ] || { echo "no dataset at $DATA: run $BIN data build --tokenizer $MODEL --out $DATA" >&2; exit 1; }

echo "== bench generate: f32 and native, with the peers" >&2
"$BIN" bench generate --model "$MODEL" --weights f32 --json > "$WORK/generate-f32.json"
"$BIN" bench generate --model "$MODEL" --weights native --json > "$WORK/generate-native.json"
echo "== the quantised kernels against each other" >&2
for k in interleaved rowwise dequantize; do
    "$BIN" bench generate --model "$MODEL" --weights native --quantized-kernel "$k" --no-peer --json > "$WORK/kernel-$k.json"
done
STRAWBERRY_NO_VNNI=1 "$BIN" bench generate --model "$MODEL" --weights native --no-peer --json > "$WORK/kernel-interleaved-avx2.json"

echo "== evaluation: 300 questions (50 test words × 3 tasks × 2 styles), f32 / native / q8_0" >&2
for w in f32 native q8_0; do
    "$BIN" eval --model "$MODEL" --data "$DATA" --limit 50 --weights "$w" --out "$WORK/eval-$w" >&2
    cp "$WORK/eval-$w/metrics.json" "$WORK/eval-$w.json"
done
"$BIN" compare "$WORK/eval-f32" "$WORK/eval-native" --out "$WORK/compare-native" >&2
"$BIN" compare "$WORK/eval-f32" "$WORK/eval-q8_0" --out "$WORK/compare-q8_0" >&2
cp "$WORK/compare-native/comparison.json" "$WORK/compare-native.json"
cp "$WORK/compare-q8_0/comparison.json" "$WORK/compare-q8_0.json"

ADAPTER=${ADAPTER:-runs/demo-smollm2/final}
if [ -f "$ADAPTER/adapter_model.safetensors" ]; then
    echo "== --quantize q8_0 on a float32 safetensors checkpoint (the demo's adapter merged into the base)" >&2
    "$BIN" merge --model "$MODEL" --adapter "$ADAPTER" --out "$WORK/merged" >&2
    "$BIN" bench generate --model "$WORK/merged" --weights f32 --no-peer --json > "$WORK/merged-generate-f32.json"
    "$BIN" bench generate --model "$WORK/merged" --quantize q8_0 --no-peer --json > "$WORK/merged-generate-q8_0.json"
    for w in f32 q8_0; do
        "$BIN" eval --model "$WORK/merged" --data "$DATA" --limit 50 --weights "$w" --out "$WORK/merged-eval-$w" >&2
        cp "$WORK/merged-eval-$w/metrics.json" "$WORK/merged-eval-$w.json"
    done
    "$BIN" compare "$WORK/merged-eval-f32" "$WORK/merged-eval-q8_0" --out "$WORK/merged-compare" >&2
    cp "$WORK/merged-compare/comparison.json" "$WORK/merged-compare-q8_0.json"
fi

echo "== LoRA training, attention targets and all linear layers, beside PyTorch + PEFT (two runs each: the peer varies ±20 %)" >&2
for run in 1 2; do
    "$BIN" bench train --model "$MODEL" --steps 8 --json > "$WORK/train-attention-$run.json"
    "$BIN" bench train --model "$MODEL" --steps 8 --targets all-linear --json > "$WORK/train-all-linear-$run.json"
done

echo "== evaluation beside two CPU-bound processes (96 questions)" >&2
timed_eval() {  # weights, label
    local t0 t1
    rm -rf "$WORK/over"
    t0=$(date +%s.%N)
    "$BIN" eval --model "$MODEL" --data "$DATA" --limit 16 --weights "$1" --out "$WORK/over" >/dev/null 2>&1
    t1=$(date +%s.%N)
    python3 -c "print('$2', '$1', round($t1 - $t0, 2))"
}
{
    timed_eval f32 idle
    timed_eval native idle
    for i in 1 2; do setsid python3 -c "while True: pass" & BUSY_PIDS+=($!); done
    sleep 1
    timed_eval f32 busy
    timed_eval native busy
    for p in "${BUSY_PIDS[@]}"; do kill -- -"$p" 2>/dev/null || true; done
    BUSY_PIDS=()
} > "$WORK/oversubscribed.txt"

python3 - "$WORK" "$OUT" <<'EOF'
import json, os, platform, subprocess, sys
work, out = sys.argv[1], sys.argv[2]
load = lambda n: json.load(open(os.path.join(work, n)))
over = {}
for line in open(os.path.join(work, "oversubscribed.txt")):
    label, weights, secs = line.split()
    over.setdefault(weights, {})[label] = float(secs)
result = {
    "generate": {"f32": load("generate-f32.json"), "native": load("generate-native.json")},
    "kernels": {k: load(f"kernel-{k}.json") for k in ["interleaved", "interleaved-avx2", "rowwise", "dequantize"]},
    "eval": {w: load(f"eval-{w}.json") for w in ["f32", "native", "q8_0"]},
    "eval_comparison": {"native": load("compare-native.json"), "q8_0": load("compare-q8_0.json")},
    "oversubscribed_eval_seconds": over,
    "train": {t: [load(f"train-{t}-{run}.json") for run in (1, 2)] for t in ["attention", "all-linear"]},
    "safetensors_q8_0": {
        "generate": {w: load(f"merged-generate-{w}.json") for w in ["f32", "q8_0"]},
        "eval": {w: load(f"merged-eval-{w}.json") for w in ["f32", "q8_0"]},
        "eval_comparison": load("merged-compare-q8_0.json"),
    } if os.path.exists(os.path.join(work, "merged-compare-q8_0.json")) else None,
    "machine": {"cpus": os.cpu_count(), "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")},
}
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
    f.write("\n")
EOF
python3 scripts/quantized-table.py "$OUT/results.json" > "$OUT/table.md"
cat "$OUT/table.md"

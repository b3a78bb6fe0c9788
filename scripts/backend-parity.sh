#!/usr/bin/env bash
# The PyTorch backend against Strawberry on the real SmolLM2-135M-Instruct GGUF (CPU, float32): one
# configuration trained by both engines from the same seed (dropout 0, so the runs are comparable step
# by step), then both adapters evaluated by both engines on the same seeded sample of test words.
# Writes results/backend-parity/results.json and table.md (scripts/backend-parity-table.py).
#   STEPS=30 LIMIT=20 scripts/backend-parity.sh        (about 10 minutes on 2 cores)
# Needs: make build, make assets, the dataset (make demo's out/data-smollm2), torch + transformers + peft + gguf.
set -euo pipefail
cd "$(dirname "$0")/.."
B=.build/release/strawberry
M=assets/SmolLM2-135M-Instruct.Q4_1.gguf
D=${DATA:-out/data-smollm2}
O=out/backend-parity
R=results/backend-parity
STEPS=${STEPS:-30}
LIMIT=${LIMIT:-20}
TORCH="env PYTHONPATH=$PWD/python STRAWBERRY_BIN=$PWD/$B python3 -m strawberry_torch"

[ -x "$B" ] && [ -f "$M" ] && [ -f "$D/manifest.json" ] || { echo "backend-parity: needs $B, $M and $D (make build assets; make demo builds the dataset)" >&2; exit 1; }
# The work folder is this script's own (its marker); anything else there is not replaced.
if [ -e "$O" ]; then
  [ -f "$O/.backend-parity" ] || { echo "backend-parity: $O exists and was not made by this script; move it away" >&2; exit 1; }
  rm -rf "$O"
fi
mkdir -p "$O" "$R" && touch "$O/.backend-parity"

common=(--config configs/train-smollm2.yaml --set "model=$M" --set "data=$D" --set "max_steps=$STEPS" --set lora.dropout=0
        --set "lora.target_modules=[all-linear]" --set eval_steps=0 --set save_steps=0 --set logging_steps=1)
$B train "${common[@]}" --set "output_dir=$O/swift-run" 2> "$O/swift-train.log"
$TORCH train "${common[@]}" --set "output_dir=$O/torch-run" --device cpu 2> "$O/torch-train.log"

for who in swift torch; do
  a="$O/$who-run/final"
  $B eval --model "$M" --adapter "$a" --data "$D" --limit "$LIMIT" --out "$O/eval-$who-adapter-by-swift" 2>> "$O/eval.log"
  $TORCH eval --model "$M" --adapter "$a" --data "$D" --limit "$LIMIT" --device cpu --out "$O/eval-$who-adapter-by-torch" 2>> "$O/eval.log"
done
python3 scripts/backend-parity-table.py "$O" "$STEPS" "$LIMIT" > "$R/table.md"
cp "$O/results.json" "$R/results.json"
cat "$R/table.md"

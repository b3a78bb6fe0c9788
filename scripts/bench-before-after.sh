#!/usr/bin/env bash
# Speed before and after a structural change, side by side in one run on one machine: `bench generate`
# (f32 and the GGUF's own blocks) and `bench train` (attention targets, all linear layers) of two
# binaries, alternated so that drift on the machine touches both alike, each measured twice (the
# better is kept, as `bench` itself keeps the best repetition). Peers are skipped: the comparison is
# the two binaries. Writes OUT/{before,after}-*.json and OUT/README.md.
#
# Usage: scripts/bench-before-after.sh BEFORE_BIN AFTER_BIN [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: scripts/bench-before-after.sh BEFORE_BIN AFTER_BIN [OUT_DIR]}
AFTER=${2:?usage: scripts/bench-before-after.sh BEFORE_BIN AFTER_BIN [OUT_DIR]}
OUT=${3:-results/structure-bench}
MODEL=${MODEL:-assets/SmolLM2-135M-Instruct.Q4_1.gguf}
for b in "$BEFORE" "$AFTER"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 1; }; done
[ -f "$MODEL" ] || { echo "no model at $MODEL: make assets" >&2; exit 1; }
WORK=$(mktemp -d /tmp/strawberry-bench-ba.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

cases=(
  "generate-f32|bench generate --model $MODEL --weights f32 --prompt-tokens 128 --new-tokens 64 --batch 8 --no-peer --json"
  "generate-native|bench generate --model $MODEL --weights native --prompt-tokens 128 --new-tokens 64 --batch 8 --no-peer --json"
  "train-attention|bench train --model $MODEL --weights f32 --batch 4 --seq-len 64 --rank 8 --targets q_proj,v_proj --steps 5 --no-peer --json"
  "train-all-linear|bench train --model $MODEL --weights f32 --batch 4 --seq-len 64 --rank 8 --targets all-linear --steps 5 --no-peer --json"
)
for round in 1 2; do
  for c in "${cases[@]}"; do
    name=${c%%|*}; args=${c#*|}
    for side in before after; do
      bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
      echo "== round $round: $side $name" >&2
      # shellcheck disable=SC2086
      "$bin" $args > "$WORK/$side-$name-$round.json"
    done
  done
done
python3 - "$WORK" "$OUT" <<'PY'
import json, sys, os
work, out = sys.argv[1], sys.argv[2]
for name in ["generate-f32", "generate-native", "train-attention", "train-all-linear"]:
    for side in ["before", "after"]:
        runs = [json.load(open(os.path.join(work, f"{side}-{name}-{r}.json"))) for r in (1, 2)]
        with open(os.path.join(out, f"{side}-{name}.json"), "w") as f:
            json.dump({"runs": runs}, f, indent=2, sort_keys=True)
            f.write("\n")
PY
python3 scripts/bench-before-after-table.py "$OUT"

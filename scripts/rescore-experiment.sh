#!/usr/bin/env bash
# The committed 150-step experiment read again with the instruments of the format-vs-knowledge review, with
# no training (results/experiment/rescored/):
#   NAME/                    each committed test evaluation (base-test, seed-N-test) re-read by `strawberry rescore`:
#                            the answer reader as documented (a numbered spelling is not a count), the answer the
#                            model's own spelling implies, the share of outputs that spell, the baselines labelled
#   base-test-likelihood/    the base model's count/position answers on the same test questions by likelihood
#                            (direct prompts; spellings generated for the implied answers)
# The dataset is rebuilt (seed 42, built-in defaults) and its evaluation files checked against the committed manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-.build/release/strawberry}
M=${MODEL:-assets/SmolLM2-135M-Instruct.Q4_1.gguf}
R=results/experiment
OUT=$R/rescored
DATA=${DATA:-out/experiment/data}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
[ -f "$DATA/manifest.json" ] || $B data build --tokenizer "$M" --out "$DATA"
for f in $(jq -r '.files | keys[] | select(startswith("eval/"))' "$R/data/manifest.json"); do
  want=$(jq -r --arg f "$f" '.files[$f]' "$R/data/manifest.json")
  [ "$(sha256sum "$DATA/$f" | cut -d' ' -f1)" = "$want" ] || { echo "$DATA/$f differs from the committed experiment's" >&2; exit 1; }
done
if [ -e "$OUT" ] && [ ! -f "$OUT/README.md" ]; then echo "$OUT exists and was not made by this script" >&2; exit 1; fi
stage=$tmp/rescored; mkdir -p "$stage"
for name in base-test seed-42-test seed-43-test seed-44-test; do
  mkdir -p "$tmp/in/$name"
  gzip -dc "$R/eval/$name/items.jsonl.gz" > "$tmp/in/$name/items.jsonl"
  cp "$R/eval/$name/metrics.json" "$tmp/in/$name/"
  $B rescore "$tmp/in/$name" --out "$tmp/out/$name" >/dev/null
  mkdir -p "$stage/$name"
  cp "$tmp/out/$name/metrics.json" "$stage/$name/"
  gzip -n -9 -c "$tmp/out/$name/items.jsonl" > "$stage/$name/items.jsonl.gz"
done
$B eval --model "$M" --data "$DATA" --split test --tasks spelling,count,position --styles direct --scoring likelihood --out "$tmp/out/ll" >/dev/null
mkdir -p "$stage/base-test-likelihood"
cp "$tmp/out/ll/metrics.json" "$stage/base-test-likelihood/metrics.json"
gzip -n -9 -c "$tmp/out/ll/items.jsonl" > "$stage/base-test-likelihood/items.jsonl.gz"
cat > "$stage/README.md" <<'MD'
# results/experiment/rescored

The committed 150-step experiment read again by `scripts/rescore-experiment.sh` (no training, no new generation
for the fine-tuned models):

| path | what |
|---|---|
| `base-test/`, `seed-N-test/` | the committed test evaluations (`../eval/`) re-read by `strawberry rescore`: the answer reader as `docs/metrics.md` documents it (a numbered spelling is not a count), per count/position item the answer the model's own spelling of the word implies (`implied`), per group `spelling_implied`, `spelled_out_rate` and the baselines labelled by kind |
| `base-test-likelihood/` | the base model on the same test questions (direct prompts): count and position by likelihood over the candidates, spellings generated (for the implied answers) |

The outputs of the models are the committed ones; only how they are read changed. The timing fields of
`base-test-likelihood/metrics.json` are that run's.
MD
rm -rf "$OUT"; mv "$stage" "$OUT"
(cd "$R" && find . -type f ! -name MANIFEST.sha256 | sort | sed 's|^\./||' | xargs sha256sum > MANIFEST.sha256)
echo "rescored: $OUT"

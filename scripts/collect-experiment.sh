#!/usr/bin/env bash
# Copies an experiment's result files from its working directory to a results directory, in the
# experiment's own layout, so that `strawberry experiment report SPEC --out RESULTS` regenerates the
# report from the committed files alone:
#   spec.json, timings.jsonl, spec.yaml (the spec as written), log.txt (the runner's log, when given)
#   data/ARM/{manifest.json,README.md}
#   runs/ARM-seedS/{config.yaml,metrics.jsonl,loss_curve.svg,adapters.sha256}  (adapters are not copied:
#                   adapters.sha256 records the SHA-256 of every checkpoint's adapter kept — the scored
#                   ones and the newest resume point — and the final one)
#   eval/**/{metrics.json,items.jsonl.gz}
#   report/         regenerated here
# and writes MANIFEST.sha256. Only a results directory this script made is replaced; its hand-written
# README.md is kept.
# Usage: scripts/collect-experiment.sh SPEC RESULTS_DIR [LOG...]
#        (the working directory is the spec's `out`, or EXPERIMENT_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/manifest.sh
SPEC=${1:?usage: collect-experiment.sh SPEC RESULTS_DIR [LOG...]}
R=${2:?usage: collect-experiment.sh SPEC RESULTS_DIR [LOG...]}
shift 2
X=${EXPERIMENT_DIR:-$(sed -n 's/^out:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$SPEC" | head -1 | tr -d "\"'")}
X=${X:-out/experiment}   # the spec's default `out`
B=${B:-.build/release/strawberry}
[ -f "$X/spec.json" ] || { echo "$X/spec.json is missing: run \`strawberry experiment run $SPEC\` first (or set EXPERIMENT_DIR)" >&2; exit 1; }
if [ -e "$R" ] && [ ! -f "$R/MANIFEST.sha256" ]; then echo "$R exists and was not made by this script; move it away first" >&2; exit 1; fi
mkdir -p "$(dirname "$R")"
tmp=$(mktemp -d "$(dirname "$R")/.collect-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
cp "$X/spec.json" "$X/timings.jsonl" "$tmp/"
cp "$SPEC" "$tmp/spec.yaml"
if [ $# -gt 0 ]; then cat "$@" > "$tmp/log.txt"; fi
for d in "$X"/data/*/; do [ -d "$d" ] || continue; a=$(basename "$d"); mkdir -p "$tmp/data/$a"; cp "$d/manifest.json" "$d/README.md" "$tmp/data/$a/"; done
for d in "$X"/runs/*/; do
  [ -d "$d" ] || continue
  r=$(basename "$d"); mkdir -p "$tmp/runs/$r"
  for f in config.yaml metrics.jsonl loss_curve.svg; do [ -f "$d/$f" ] && cp "$d/$f" "$tmp/runs/$r/"; done
  (cd "$d" && find . -name adapter_model.safetensors | sort | sed 's|^\./||' | xargs -r sha256sum) > "$tmp/runs/$r/adapters.sha256"
done
(cd "$X" && find eval -name metrics.json | sort) | while read -r m; do
  e=$(dirname "$m"); mkdir -p "$tmp/$e"
  cp "$X/$m" "$tmp/$m"
  if [ -f "$X/$e/items.jsonl" ]; then gzip -n -9 -c "$X/$e/items.jsonl" > "$tmp/$e/items.jsonl.gz"; else cp "$X/$e/items.jsonl.gz" "$tmp/$e/"; fi
done
$B experiment report "$SPEC" --out "$tmp" --report-dir "$tmp/report" >/dev/null
# The README (the reading of the results) is written by hand and kept across collections.
if [ -f "$R/README.md" ]; then cp "$R/README.md" "$tmp/README.md"; fi
write_manifest "$tmp"
rm -rf "$R"; mv "$tmp" "$R"; trap - EXIT
# A collected file that git ignores would be missing from a clean clone, and the results tests there would fail.
ignored=$(cd "$R" && find . -type f | sed 's|^\./||' | git check-ignore --stdin 2>/dev/null || true)
if [ -n "$ignored" ]; then echo "warning: git ignores these files of $R; change .gitignore before committing:" >&2; echo "$ignored" | sed 's/^/  /' >&2; fi
echo "collected: $R"

#!/usr/bin/env bash
# Copies the pilot's result files from its working directory (out/experiment-pilot, made by
# `strawberry experiment run configs/experiment-pilot.yaml`) to results/pilot, in the experiment's own layout so
# that `strawberry experiment report configs/experiment-pilot.yaml --out results/pilot` regenerates the report from
# the committed files alone: spec.json, timings.jsonl, data/ARM/{manifest.json,README.md}, runs/ARM-seedS/
# {config.yaml,metrics.jsonl,loss_curve.svg}, eval/**/{metrics.json,items.jsonl.gz} (adapters are not committed),
# and report/. Writes MANIFEST.sha256. Only a results directory this script made is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
X=${EXPERIMENT_DIR:-out/experiment-pilot}
R=${RESULTS_DIR:-results/pilot}
B=${B:-.build/release/strawberry}
if [ -e "$R" ] && [ ! -f "$R/MANIFEST.sha256" ]; then echo "$R exists and was not made by this script; move it away first" >&2; exit 1; fi
tmp=$(mktemp -d "$(dirname "$R")/.collect-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
cp "$X/spec.json" "$X/timings.jsonl" "$tmp/"
cp configs/experiment-pilot.yaml "$tmp/spec.yaml"
for d in "$X"/data/*/; do a=$(basename "$d"); mkdir -p "$tmp/data/$a"; cp "$d/manifest.json" "$d/README.md" "$tmp/data/$a/"; done
for d in "$X"/runs/*/; do r=$(basename "$d"); mkdir -p "$tmp/runs/$r"; cp "$d/config.yaml" "$d/metrics.jsonl" "$tmp/runs/$r/"; [ -f "$d/loss_curve.svg" ] && cp "$d/loss_curve.svg" "$tmp/runs/$r/"; done
(cd "$X" && find eval -name metrics.json) | while read -r m; do
  e=$(dirname "$m"); mkdir -p "$tmp/$e"
  cp "$X/$m" "$tmp/$m"
  gzip -n -9 -c "$X/$e/items.jsonl" > "$tmp/$e/items.jsonl.gz"
done
$B experiment report configs/experiment-pilot.yaml --out "$tmp" --report-dir "$tmp/report" >/dev/null
# The README (the reading of the results) is written by hand and kept across collections.
if [ -f "$R/README.md" ]; then cp "$R/README.md" "$tmp/README.md"; fi
(cd "$tmp" && find . -type f ! -name MANIFEST.sha256 | sort | sed 's|^\./||' | xargs sha256sum > MANIFEST.sha256)
rm -rf "$R"; mv "$tmp" "$R"; trap - EXIT
echo "collected: $R"

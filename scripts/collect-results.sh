#!/usr/bin/env bash
# Copies an experiment's result files (not adapters) from EXPERIMENT_DIR into RESULTS_DIR, per-item
# records gzip-compressed without timestamps (so the same records give the same bytes), writes
# MANIFEST.sha256, and regenerates README's results table from the summary.
#   scripts/collect-results.sh out/experiment results/experiment
set -euo pipefail
cd "$(dirname "$0")/.."
X=${1:?experiment directory}
R=${2:?results directory}
[ -f "$X/summary/summary.json" ] || { echo "$X/summary/summary.json is missing: run scripts/reproduce.sh to the end first" >&2; exit 1; }
# Only a results directory this script made (it has MANIFEST.sha256) is replaced.
if [ -e "$R" ] && [ ! -f "$R/MANIFEST.sha256" ]; then echo "$R exists and was not made by this script; move it away first" >&2; exit 1; fi
tmp="$R.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
copy() { mkdir -p "$tmp/$(dirname "$2")"; cp "$1" "$tmp/$2"; }
zip_items() { mkdir -p "$tmp/$(dirname "$2")"; gzip -n -9 -c "$1" > "$tmp/$2.gz"; }

copy "$X/data/manifest.json" data/manifest.json
copy "$X/data/README.md" data/README.md
copy "$X/sweep/sweep.md" sweep/sweep.md
copy "$X/sweep/chosen.txt" sweep/chosen.txt
for d in "$X"/sweep/*/; do
    n=$(basename "$d")
    for f in config.yaml metrics.jsonl loss_curve.svg; do copy "$d/$f" "sweep/$n/$f"; done
    copy "$d/validation/metrics.json" "sweep/$n/validation/metrics.json"
    zip_items "$d/validation/items.jsonl" "sweep/$n/validation/items.jsonl"
done
for d in "$X"/seeds/seed-*; do
    n=$(basename "$d")
    for f in config.yaml metrics.jsonl loss_curve.svg; do copy "$d/$f" "seeds/$n/$f"; done
done
for d in "$X"/eval/*/; do
    n=$(basename "$d")
    copy "$d/metrics.json" "eval/$n/metrics.json"
    zip_items "$d/items.jsonl" "eval/$n/items.jsonl"
done
for d in "$X"/reports/*/; do
    n=$(basename "$d")
    for f in "$d"/*; do [ -f "$f" ] && copy "$f" "reports/$n/$(basename "$f")"; done
done
for f in "$X"/summary/*; do [ -f "$f" ] && copy "$f" "summary/$(basename "$f")"; done
cp docs/results-README.md "$tmp/README.md"
(cd "$tmp" && find . -type f ! -name MANIFEST.sha256 | sort | sed 's|^\./||' | xargs sha256sum > MANIFEST.sha256)
rm -rf "$R"
mv "$tmp" "$R"

# README's results table is this summary's table, between the markers.
python3 - "$R/summary/results_table.md" <<'PY'
import sys
table = open(sys.argv[1]).read()
text = open("README.md").read()
begin, end = "<!-- results-table:begin -->\n", "<!-- results-table:end -->"
i, j = text.find(begin), text.find(end)
if i < 0 or j < i:
    sys.exit("README.md has no results-table markers")
open("README.md", "w").write(text[:i + len(begin)] + table + text[j:])
PY
echo "results: $R ($(du -sh "$R" | cut -f1))"

#!/usr/bin/env bash
# Regenerates the report/ of collected experiment results from their committed files alone (after a
# change to the analysis or the report's wording), and rewrites their MANIFEST.sha256:
#   scripts/rereport-experiment.sh results/pilot results/transfer-recipe/lr1e-3_r64 ...
# Only a directory scripts/collect-experiment.sh made (it holds MANIFEST.sha256 and spec.yaml) is touched,
# and in it only report/ and MANIFEST.sha256. Tests/EvaluationTests/ResultsTests.swift checks the result.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-.build/release/strawberry}
[ $# -gt 0 ] || { echo "usage: rereport-experiment.sh RESULTS_DIR..." >&2; exit 2; }
for R in "$@"; do
  [ -f "$R/MANIFEST.sha256" ] && [ -f "$R/spec.yaml" ] || { echo "$R was not collected by scripts/collect-experiment.sh: skipped" >&2; exit 1; }
  new="$R/.report-new"
  [ ! -e "$new" ] || { echo "$new exists (an earlier run stopped?): move it away first" >&2; exit 1; }
  $B experiment report "$R/spec.yaml" --out "$R" --report-dir "$new" >/dev/null
  rm -rf "$R/report"; mv "$new" "$R/report"
  (cd "$R" && find . -type f ! -name MANIFEST.sha256 ! -name MANIFEST.sha256.tmp | sort | sed 's|^\./||' | xargs sha256sum > MANIFEST.sha256.tmp && mv MANIFEST.sha256.tmp MANIFEST.sha256)
  echo "re-reported: $R"
done

#!/usr/bin/env bash
# Regenerates the report/ of collected experiment results from their committed files alone (after a
# change to the analysis or the report's wording), and rewrites their MANIFEST.sha256:
#   scripts/rereport-experiment.sh results/pilot results/transfer-recipe/lr1e-3_r64 ...
# Only a directory scripts/collect-experiment.sh made (it holds MANIFEST.sha256 and spec.yaml) whose files all match
# that manifest is touched, and in it only report/ and MANIFEST.sha256. Directories are done in order; the first
# refused one stops the script. Tests/EvaluationTests/ResultsTests.swift checks the result.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/manifest.sh
B=${B:-.build/release/strawberry}
[ $# -gt 0 ] || { echo "usage: rereport-experiment.sh RESULTS_DIR..." >&2; exit 2; }
for R in "$@"; do
  [ -f "$R/MANIFEST.sha256" ] && [ -f "$R/spec.yaml" ] || { echo "$R was not collected by scripts/collect-experiment.sh: stopped here" >&2; exit 1; }
  # The committed files must be the ones collected: a changed or unlisted file would slip into the new manifest.
  (cd "$R" && sha256sum -c --quiet MANIFEST.sha256) || { echo "$R: files differ from its MANIFEST.sha256: stopped here" >&2; exit 1; }
  unlisted=$(cd "$R" && comm -13 <(sed 's/^[0-9a-f]*  //' MANIFEST.sha256 | sort) <(find . -type f ! -name MANIFEST.sha256 | sed 's|^\./||' | sort))
  [ -z "$unlisted" ] || { echo "$R: files not in its MANIFEST.sha256: $unlisted; stopped here" >&2; exit 1; }
  new="$R/.report-new"
  [ ! -e "$new" ] || { echo "$new exists (an earlier run stopped?): move it away first" >&2; exit 1; }
  $B experiment report "$R/spec.yaml" --out "$R" --report-dir "$new" >/dev/null
  rm -rf "$R/report"; mv "$new" "$R/report"
  write_manifest "$R"
  echo "re-reported: $R"
done

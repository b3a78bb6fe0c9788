#!/usr/bin/env bash
# The transfer experiment's release step (issue 27; the rule was fixed before any test stage, in
# docs/experiment_reproduction.md, "Deviations", 2026-12-08): the `spelling` seed with the highest exact
# spelling on validation words at the final budget (ties: the lowest seed) is
#   compared with the base model on test     strawberry compare  → RESULTS/compare
#   put through the release gate             strawberry deploy   → RESULTS/deployment (a fresh store in out/)
#   published as a Hub-layout folder          strawberry publish  → RESULTS/hub (the card's model-index: those
#                                                                   test metrics; the adapter's weights are
#                                                                   not committed, their SHA-256 is)
# Usage: scripts/release-transfer.sh [RESULTS]   (default results/transfer-release; the experiment's working
#        directory is out/transfer, or EXPERIMENT_DIR). Only a RESULTS this script made (it holds
#        RELEASE.md) is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-.build/release/strawberry}
X=${EXPERIMENT_DIR:-out/transfer}
R=${1:-results/transfer-release}
HUB_BASE_MODEL=${HUB_BASE_MODEL:-HuggingFaceTB/SmolLM2-135M-Instruct}
STORE=${STORE:-out/transfer-release-store}
[ -f "$X/spec.json" ] || { echo "$X/spec.json is missing: run the experiment first (or set EXPERIMENT_DIR)" >&2; exit 1; }
if [ -e "$R" ] && [ ! -f "$R/RELEASE.md" ]; then echo "$R exists and was not made by this script; move it away first" >&2; exit 1; fi
if [ -e "$STORE" ] && [ ! -f "$STORE/.release-transfer" ]; then echo "$STORE exists and was not made by this script; set STORE" >&2; exit 1; fi

read -r seed final acc model <<<"$(python3 - "$X" <<'PY'
import json, pathlib, sys
x = pathlib.Path(sys.argv[1])
spec = json.loads((x / "spec.json").read_text())
final = spec["checkpoints"][-1]
best = None
for s in sorted(spec["seeds"]):
    m = x / "eval" / f"spelling-seed{s}" / f"step-{final}" / "metrics.json"
    if m.exists():
        acc = json.loads(m.read_text())["metrics"]["spelling/direct/non-thinking"]["accuracy"]
        if best is None or acc > best[1]:
            best = (s, acc)
if best is None:
    sys.exit(f"no spelling seed of {x} is scored at step {final}")
print(best[0], final, best[1], spec["model"])
PY
)"
run=$X/runs/spelling-seed$seed
for need in "$X/eval/base/test/metrics.json" "$X/eval/spelling-seed$seed/test/metrics.json" "$run/final/adapter_model.safetensors"; do
  [ -f "$need" ] || { echo "$need is missing: the experiment's test stages are not done" >&2; exit 1; }
done
echo "released: spelling seed $seed (validation exact spelling $acc at step $final)"

mkdir -p "$(dirname "$R")" "$STORE"
touch "$STORE/.release-transfer"
tmp=$(mktemp -d "$(dirname "$R")/.release-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
$B compare "$X/eval/base/test" "$X/eval/spelling-seed$seed/test" --out "$tmp/compare" --run "$run" --store "$STORE" >/dev/null
# The gate decides against this store's earlier versions (none at the first release: it deploys).
$B deploy --evaluation-results "$tmp/compare" --adapter "$run/final" --base-model "$model" --store "$STORE" \
  --output-dir "$tmp/deployment" --skip-hf-push > "$tmp/deploy.txt"
$B publish --adapter "$run/final" --evaluation-results "$tmp/compare" --base-model "$HUB_BASE_MODEL" --store "$STORE" \
  --to-dir "$tmp/hub" --path-in-repo "" > "$tmp/publish.txt"
# The weights are large and not committed; their hash says which ones the card describes.
(cd "$tmp/hub" && find . -name '*.safetensors' | sort | sed 's|^\./||' | xargs -r sha256sum > weights.sha256 && find . -name '*.safetensors' -delete)
cat > "$tmp/RELEASE.md" <<EOF
# The transfer experiment's released adapter

\`spelling\` seed $seed of \`$X\` — the seed with the highest exact spelling on validation words at step $final
($acc), chosen by the rule fixed before any test stage (docs/experiment_reproduction.md, "Deviations",
2026-12-08). Made by \`scripts/release-transfer.sh\`:

- \`compare/\`: \`strawberry compare\` of its test evaluation against the base model's;
- \`deployment/\`: \`strawberry deploy\` (the release gate) in a fresh store, Hub push skipped;
- \`hub/\`: \`strawberry publish --to-dir\`, the Hub-layout folder with the model card (README.md, whose model-index
  holds the test metrics of \`compare/evaluation_results.json\`); the adapter weights are not committed —
  \`hub/weights.sha256\` names them.
EOF
# The commands' own reports name the temporary directory; they are committed under RESULTS.
sed -i "s|$tmp|$R|g" "$tmp/deploy.txt" "$tmp/publish.txt"
rm -rf "$R"; mv "$tmp" "$R"; trap - EXIT
echo "written: $R"

#!/usr/bin/env bash
# Runs the transfer experiment (issue 27) in the background-friendly way it is run here: resumable
# stages, a copy of the binary (so a rebuild while it runs cannot change the code mid-experiment),
# `nice` so the machine stays usable, logs appended under out/.
#   scripts/run-transfer.sh recipe    the recipe check's candidates, one after another
#   scripts/run-transfer.sh main      experiments/transfer.yaml (after the recipe is chosen)
#   scripts/run-transfer.sh repro     the reproduction check: spelling seed 42 to step 200 in out/transfer-repro
#                                     (then: python3 scripts/check-reproduction.py results/transfer out/transfer-repro results/transfer-reproduction
#                                            --run spelling-seed42 --stop-after 200)
#   scripts/run-transfer.sh adopt NAME  before the first `main`: the chosen recipe-check candidate's run is the
#                                     experiment's spelling seed 42 (the same computation), so its dataset, run and
#                                     evaluations, and the base model's validation evaluation, are copied into out/transfer
# Each is safe to stop (kill -TERM saves a checkpoint) and to start again; typically:
#   setsid nohup scripts/run-transfer.sh recipe >/dev/null 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: run-transfer.sh recipe|main|repro|adopt NAME}
# The recipe check's copy is refreshed between runs (never while another of these scripts uses it). The
# experiment's own copy (main, repro) is made once, at its first start, and kept for all its sessions, so
# every stage of it runs the same code; its SHA-256 goes into the log at each start. To change it (a bug
# found mid-experiment), remove out/transfer-main-bin deliberately and say so in the results.
case "$what" in
main|repro) BIN=out/transfer-main-bin/strawberry ;;
*) BIN=out/transfer-bin/strawberry ;;
esac
mkdir -p "$(dirname "$BIN")"
if [ "$BIN" = out/transfer-bin/strawberry ] && ! pgrep -f "$PWD/$BIN" >/dev/null 2>&1 || [ ! -x "$BIN" ]; then
    cp .build/release/strawberry "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
fi
run() { nice -n 5 "$PWD/$BIN" experiment run "$@"; }
stamp() { mkdir -p "$(dirname "$1")"; echo "== $(date -u +%FT%TZ) start: $BIN sha256 $(sha256sum "$BIN" | cut -c1-64)" >> "$1"; }
case "$what" in
recipe)
    mkdir -p out/transfer-recipe
    for c in lr1e-3_r64 lr2e-3_r64 lr1e-3_r128; do
        run "experiments/recipe-check/$c.yaml" >> "out/transfer-recipe/$c.log" 2>&1
    done ;;
main)
    stamp out/transfer/log.txt
    run experiments/transfer.yaml >> out/transfer/log.txt 2>&1 ;;
adopt)
    name=${2:?usage: run-transfer.sh adopt NAME (a directory of out/transfer-recipe)}
    src=out/transfer-recipe/$name
    [ -f "$src/runs/spelling-seed42/final/adapter_model.safetensors" ] || { echo "$src has no finished spelling-seed42 run" >&2; exit 1; }
    [ ! -e out/transfer/runs/spelling-seed42 ] || { echo "out/transfer/runs/spelling-seed42 exists: nothing copied" >&2; exit 1; }
    mkdir -p out/transfer/data out/transfer/runs out/transfer/eval/base
    [ -f "$src/timings.jsonl" ] || { echo "$src/timings.jsonl is missing" >&2; exit 1; }
    # Each directory copied brings its stages' measured times (the stage names are the same in both specs).
    stages=()
    for d in data/spelling runs/spelling-seed42 eval/spelling-seed42 eval/base/validation; do
        [ ! -e "out/transfer/$d" ] || continue
        cp -a "$src/$d" "out/transfer/$d"
        case $d in
        data/spelling) stages+=("data spelling") ;;
        runs/spelling-seed42) stages+=("train spelling seed 42") ;;
        eval/spelling-seed42) stages+=("spelling seed 42 · step [0-9]+ · validation") ;;
        eval/base/validation) stages+=("base · validation") ;;
        esac
    done
    if [ ${#stages[@]} -gt 0 ]; then
        pattern=$(IFS='|'; echo "${stages[*]}")
        grep -E "\"stage\":\"($pattern)\"" "$src/timings.jsonl" >> out/transfer/timings.jsonl || true
    fi
    echo "adopted $src as spelling seed 42 of out/transfer (dataset, run, evaluations and their timing lines)" | tee -a out/transfer/log.txt ;;
repro)
    stamp out/transfer-repro/log.txt
    run experiments/transfer.yaml --out out/transfer-repro --only spelling-seed42 --stop-after 200 >> out/transfer-repro/log.txt 2>&1 ;;
*) echo "usage: run-transfer.sh recipe|main|repro|adopt NAME" >&2; exit 2 ;;
esac

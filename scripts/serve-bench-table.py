#!/usr/bin/env python3
"""results/serve-bench/results.json → table.md (what docs/performance.md shows)."""
import json, sys
out = sys.argv[1] if len(sys.argv) > 1 else "results/serve-bench"
doc = json.load(open(out + "/results.json"))
rows = doc["results"]
fmt = lambda x: "–" if x is None else f"{x:.3f}"
lines = [f"`{doc['endpoint']}` {json.dumps(doc['body'])}, {doc['seconds_per_point']} s per point, `{doc['tool']}`, {doc['model']}, {doc['machine']}.", "",
         "| MAX_BATCH_SIZE | clients | requests/s | p50 (s) | p95 (s) | p99 (s) | statuses |", "|---|---|---|---|---|---|---|"]
for r in rows:
    lines.append(f"| {r['max_batch_size']} | {r['clients']} | {r['requests_per_second']:.2f} | {fmt(r['p50_seconds'])} | {fmt(r['p95_seconds'])} | {fmt(r['p99_seconds'])} | "
                 + ", ".join(f"{k}: {v}" for k, v in sorted(r["status_codes"].items())) + " |")
by = {(r["max_batch_size"], r["clients"]): r for r in rows}
g = by[(16, 32)]["requests_per_second"] / by[(1, 32)]["requests_per_second"]
lines += ["", f"Throughput at 32 clients, MAX_BATCH_SIZE=16 over 1: {g:.2f}×", "",
          "(– : `hey` prints no p99 when too few requests completed in the window to place one.)"]
open(out + "/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))

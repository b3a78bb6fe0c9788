#!/usr/bin/env python3
"""The table of scripts/bench-before-after.sh: per case and measure, the best of the rounds on each
side (as `bench` keeps its best repetition), the change, and each side's range over the rounds, so the
run-to-run spread stands beside the difference. Usage: python3 scripts/bench-before-after-table.py OUT"""
import json, os, sys

out = sys.argv[1]
keys = {"generate": ["prefill_tokens_per_second", "prefill_last_logits_tokens_per_second", "decode_tokens_per_second",
                     "batched_decode_tokens_per_second"],
        "train": ["tokens_per_second"]}
rows = []
for name in ["generate-f32", "generate-native", "train-attention", "train-all-linear"]:
    runs = {side: json.load(open(os.path.join(out, f"{side}-{name}.json")))["runs"] for side in ("before", "after")}
    for k in keys[name.split("-")[0]]:
        vals = {side: [r[k] for r in runs[side] if r.get(k)] for side in runs}
        if not vals["before"] or not vals["after"]:
            continue
        b, a = max(vals["before"]), max(vals["after"])
        spread = lambda v: f"{min(v):.1f}–{max(v):.1f}"
        rows.append(f"| {name} | {k} | {b:.1f} ({spread(vals['before'])}) | {a:.1f} ({spread(vals['after'])}) | {100 * (a / b - 1):+.1f} % |")
text = "| case | measure | before: best (range) | after: best (range) | change of the best |\n|---|---|---:|---:|---:|\n" + "\n".join(rows) + "\n"
open(os.path.join(out, "table.md"), "w").write(text)
print(text)

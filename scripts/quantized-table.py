"""results/quantized/results.json (scripts/bench-quantized.sh) as the Markdown tables docs/performance.md shows.

Usage: python3 scripts/quantized-table.py results/quantized/results.json > results/quantized/table.md
"""
import json, math, sys


def wilson(k, n, z=1.959964):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def fmt(x, unit=""):
    return f"{x:,.1f}{unit}" if isinstance(x, (int, float)) else "–"


def main():
    r = json.load(open(sys.argv[1]))
    f32, nat = r["generate"]["f32"], r["generate"]["native"]
    torch, llama = f32.get("peer") or {}, nat.get("llama_cpp") or {}
    out = []
    out.append(f"Machine: {r['machine']['cpu']}, {r['machine']['cpus']} CPUs; {nat.get('threads')} threads; kernels: {nat.get('simd')}.")
    out.append("")
    out.append("| tokens/s | f32 | native (Q4_1 + Q8_0 blocks) | native / f32 | PyTorch (f32) | native / PyTorch | llama.cpp (same GGUF) | native / llama.cpp |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("prefill 512, all logits", "prefill_tokens_per_second"), ("prefill 512, last logits", "prefill_last_logits_tokens_per_second"),
            ("decode, batch 1", "decode_tokens_per_second"), (f"batched decode, batch {nat.get('batch')}", "batched_decode_tokens_per_second")]
    for name, key in rows:
        a, b, t, l = f32.get(key), nat.get(key), torch.get(key), llama.get(key)
        out.append(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} | {fmt(t)} | {ratio(b, t)} | {fmt(l)} | {ratio(b, l)} |")
    out.append("")
    bw = nat.get("memory_bandwidth_gb_per_second") or 0
    for label, g in [("f32", f32), ("native", nat)]:
        traffic = g.get("decode_gb_per_second") or 0
        out.append(f"- {label}: decode reads {g.get('weight_bytes', 0) / 1e6:.1f} MB of weights per token → {traffic:.1f} GB/s, "
                   f"{100 * traffic / bw if bw else 0:.0f} % of the {bw:.1f} GB/s read bandwidth measured in the same run; "
                   f"prefill {g.get('prefill_gflops', 0):.1f} GFLOP/s of model FLOPs against an SGEMM ceiling of {g.get('sgemm_ceiling_gflops', 0):.1f}.")
    out.append(f"- peak memory: f32 {f32.get('peak_rss_bytes', 0) / 2**20:.0f} MiB, native {nat.get('peak_rss_bytes', 0) / 2**20:.0f} MiB"
               + (f", llama.cpp {llama['peak_rss_bytes'] / 2**20:.0f} MiB" if llama.get("peak_rss_bytes") else "")
               + (f", PyTorch {torch['peak_rss_bytes'] / 2**20:.0f} MiB" if torch.get("peak_rss_bytes") else "") + ".")
    out.append("")
    out.append("| quantised kernel (native weights) | prefill 512 | decode | batched decode |")
    out.append("|---|---:|---:|---:|")
    for k, g in r["kernels"].items():
        out.append(f"| {k} | {fmt(g.get('prefill_tokens_per_second'))} | {fmt(g.get('decode_tokens_per_second'))} | {fmt(g.get('batched_decode_tokens_per_second'))} |")
    out.append("")
    out.append("| evaluation, 300 questions | correct | accuracy [95 % CI] | questions/s | paired with f32: only f32 right / only this right |")
    out.append("|---|---:|---:|---:|---:|")
    for w, m in r["eval"].items():
        n = sum(g["n"] for g in m["metrics"].values())
        k = sum(g["correct"] for g in m["metrics"].values())
        lo, hi = wilson(k, n)
        paired = "–"
        if w in r["eval_comparison"]:
            groups = r["eval_comparison"][w]["groups"].values()
            paired = f"{sum(g['mcnemar_base_only_correct'] for g in groups)} / {sum(g['mcnemar_finetuned_only_correct'] for g in groups)}"
        out.append(f"| {w} | {k}/{n} | {k / n:.3f} [{lo:.3f}, {hi:.3f}] | {m['questions_per_second']:.2f} | {paired} |")
    out.append("")
    q = r.get("safetensors_q8_0")
    if q:
        out.append("| float32 safetensors checkpoint (demo adapter merged) | decode tokens/s | batched decode | accuracy, 300 questions [95 % CI] | questions/s |")
        out.append("|---|---:|---:|---:|---:|")
        for w in ["f32", "q8_0"]:
            g, m = q["generate"][w], q["eval"][w]
            n = sum(x["n"] for x in m["metrics"].values()); k = sum(x["correct"] for x in m["metrics"].values())
            lo, hi = wilson(k, n)
            out.append(f"| {'--quantize q8_0' if w == 'q8_0' else 'f32'} | {fmt(g.get('decode_tokens_per_second'))} | {fmt(g.get('batched_decode_tokens_per_second'))} | "
                       f"{k / n:.3f} [{lo:.3f}, {hi:.3f}] | {m['questions_per_second']:.2f} |")
        groups = q["eval_comparison"]["groups"].values()
        out.append("")
        out.append(f"Paired with f32 on the same 300 questions: {sum(g['mcnemar_base_only_correct'] for g in groups)} right only in f32, "
                   f"{sum(g['mcnemar_finetuned_only_correct'] for g in groups)} right only with Q8_0.")
        out.append("")
    out.append("| LoRA training, batch 8 × 64, r 16 | run | Strawberry tokens/s | PyTorch + PEFT tokens/s | ratio | peak memory, Strawberry / PyTorch |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for t, runs in r.get("train", {}).items():
        for i, g in enumerate(runs, 1):
            p = g.get("peer") or {}
            out.append(f"| {t} ({g.get('trainable_parameters', 0):,} trainable) | {i} | {fmt(g.get('tokens_per_second'))} | {fmt(p.get('tokens_per_second'))} | "
                       f"{ratio(g.get('tokens_per_second'), p.get('tokens_per_second'))} | {g.get('peak_rss_bytes', 0) / 2**20:,.0f} / {p.get('peak_rss_bytes', 0) / 2**20:,.0f} MiB |")
    out.append("")
    o = r["oversubscribed_eval_seconds"]
    out.append("| 96-question eval, wall seconds | idle | two CPU-bound processes beside it | slowdown |")
    out.append("|---|---:|---:|---:|")
    for w, t in o.items():
        out.append(f"| {w} | {t['idle']:.1f} | {t['busy']:.1f} | {t['busy'] / t['idle']:.2f}× |")
    print("\n".join(out))


if __name__ == "__main__":
    main()

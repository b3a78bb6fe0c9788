#!/usr/bin/env python3
"""The tables of docs/performance.md's "Training and scoring throughput" section, from the files
scripts/bench-throughput.sh writes (results/training-speed/). Usage: throughput-table.py DIR"""
import json, os, sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(x, spec="{:.1f}"):
    return "—" if x is None else spec.format(x)


def ratio(a, b):
    return None if a is None or not b else a / b


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "results/training-speed"
    out = []
    cpu = open(os.path.join(d, "cpu.txt")).read().strip().replace("\n", "; ") if os.path.exists(os.path.join(d, "cpu.txt")) else "unknown"
    out.append(f"Machine: {cpu}\n")
    out.append("## LoRA training, r 16, batch 8 × 64 tokens (tokens/s)\n")
    out.append("| targets | Strawberry f32 | Strawberry bf16 weights | PyTorch + PEFT f32 | PyTorch + PEFT bf16 autocast | bf16 ÷ Strawberry f32 | bf16 ÷ PyTorch f32 | bf16 ÷ PyTorch bf16 |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    variants = []
    recipes = []
    for name in ["attention", "all-linear"]:
        f, b = load(os.path.join(d, f"{name}-f32.json")), load(os.path.join(d, f"{name}-bf16.json"))
        if not f or not b:
            continue
        ours, bf = f.get("tokens_per_second"), b.get("tokens_per_second")
        pt = (f.get("peer") or {}).get("tokens_per_second")
        pb = load(os.path.join(d, f"{name}-peer-bf16.json")) or {}
        if not f.get("peer_bf16") and pb.get("peer_bf16"):
            f["peer_bf16"] = pb["peer_bf16"]
        ptb = (f.get("peer_bf16") or {}).get("tokens_per_second")
        out.append(f"| {name} | {fmt(ours)} | {fmt(bf)} | {fmt(pt)} | {fmt(ptb)} | {fmt(ratio(bf, ours), '{:.2f}×')} | "
                   f"{fmt(ratio(bf, pt), '{:.2f}×')} | {fmt(ratio(bf, ptb), '{:.2f}×')} |")
        recipes.append((name, f, b))
        variants.append((name, f, b, load(os.path.join(d, f"{name}-bf16-sgemm.json")), load(os.path.join(d, f"{name}-f32-blas-as-detected.json"))))
    if any(v[3] or v[4] for v in variants):
        out.append("\nThe same steps on other kernels (tokens/s; the kernel each ran on in brackets):\n")
        out.append("| targets | f32 (OpenBLAS as it detects the CPU) | f32 (re-selected) | bf16 widened for SGEMM | bf16 on the bf16 units | units ÷ widened | units ÷ f32 as detected |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, f, b, w, a in variants:
            def cell(r, key):
                return "—" if not r else f"{fmt(r.get('tokens_per_second'))} ({r.get(key) or '?'})"
            out.append(f"| {name} | {cell(a, 'blas_core')} | {cell(f, 'blas_core')} | {cell(w, 'bf16_kernel')} | {cell(b, 'bf16_kernel')} | "
                       f"{fmt(ratio(b.get('tokens_per_second'), (w or {}).get('tokens_per_second')), '{:.2f}×')} | "
                       f"{fmt(ratio(b.get('tokens_per_second'), (a or {}).get('tokens_per_second')), '{:.2f}×')} |")
    out.append("")
    out.append("| targets | precision | model GFLOP/s | SGEMM ceiling | bf16-weight product ceiling | peak memory MiB | PyTorch f32 MiB | PyTorch bf16 MiB |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, f, b in recipes:
        for p, r in [("f32", f), ("bf16", b)]:
            out.append(f"| {name} | {p} | {fmt(r.get('gflops'))} | {fmt(r.get('sgemm_ceiling_gflops'))} | {fmt(r.get('bf16_ceiling_gflops'))} | "
                       f"{fmt((r.get('peak_rss_bytes') or 0) / 2**20, '{:.0f}')} | "
                       f"{fmt(((f.get('peer') or {}).get('peak_rss_bytes') or 0) / 2**20, '{:.0f}') if p == 'f32' else ''} | "
                       f"{fmt(((f.get('peer_bf16') or {}).get('peak_rss_bytes') or 0) / 2**20, '{:.0f}') if p == 'f32' else ''} |")
    out.append("\n## The spelling recipe (completion-only, chat template; one epoch of the training split)\n")
    out.append("| targets | engine | s/step | tokens/s | one epoch (h) |")
    out.append("|---|---|---:|---:|---:|")
    for name, f, b in recipes:
        rows = [("Strawberry f32", f.get("recipe")), ("Strawberry bf16 weights", b.get("recipe")),
                ("PyTorch + PEFT f32", (f.get("peer") or {}).get("recipe")), ("PyTorch + PEFT bf16 autocast", (f.get("peer_bf16") or {}).get("recipe"))]
        for engine, r in rows:
            if r:
                tps = r.get("tokens_per_second")
                out.append(f"| {name} | {engine} | {fmt(r.get('seconds_per_step'), '{:.2f}')} | {fmt(tps, '{:.0f}')} | {fmt((r.get('epoch_seconds') or 0) / 3600, '{:.2f}')} |")

    s = os.path.join(d, "scoring")
    if not os.path.isdir(s):
        print("\n".join(out))
        return
    out.append("\n## Count and position questions, scored (questions/s)\n")
    out.append("| engine | scoring | weights | questions | seconds | questions/s | ÷ Strawberry generation (native) |")
    out.append("|---|---|---|---:|---:|---:|---:|")
    base = (load(os.path.join(s, "generate-native.json")) or {}).get("questions_per_second")
    for scoring, weights in [("generate", "native"), ("generate", "f32"), ("likelihood", "native"), ("likelihood", "f32"), ("likelihood", "bf16")]:
        m = load(os.path.join(s, f"{scoring}-{weights}.json"))
        if m:
            q = m.get("questions_per_second")
            out.append(f"| Strawberry | {scoring} | {weights} | {m.get('questions')} | {fmt(m.get('seconds'))} | {fmt(q, '{:.2f}')} | {fmt(ratio(q, base), '{:.2f}×')} |")
    t = load(os.path.join(s, "transformers-likelihood.json"))
    if t:
        q = t.get("questions_per_second")
        out.append(f"| transformers {t.get('torch', '')} (one padded forward per question) | likelihood | f32 | {t.get('questions')} | {fmt(t.get('seconds'))} | "
                   f"{fmt(q, '{:.2f}')} | {fmt(ratio(q, base), '{:.2f}×')} |")
        out.append(f"\ntransformers' prediction agrees with Strawberry's (f32) on {100 * t.get('argmax_agreement', 0):.1f} % of questions; "
                   f"largest |log P| difference {t.get('max_abs_logprob_difference', 0):.2e}.")

    dd = os.path.join(d, "decode")
    if not os.path.isdir(dd):
        print("\n".join(out))
        return
    out.append("\n## Decode, native Q4_1 weights (tokens/s)\n")
    out.append("| decode attention | batch 1 | batched (16) | prefill (512, all logits) |")
    out.append("|---|---:|---:|---:|")
    for a in ["parallel", "serial"]:
        g = load(os.path.join(dd, f"native-{a}.json"))
        if g:
            out.append(f"| {a} | {fmt(g.get('decode_tokens_per_second'))} | {fmt(g.get('batched_decode_tokens_per_second'))} | {fmt(g.get('prefill_tokens_per_second'))} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()

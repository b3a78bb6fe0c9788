"""The backend-parity run (scripts/backend-parity.sh) as results.json and a Markdown table.

Usage: python3 scripts/backend-parity-table.py OUT_DIR STEPS LIMIT > results/backend-parity/table.md
(also writes OUT_DIR/results.json). Every number is read from the two engines' own records.
"""
import json, os, platform, sys

from safetensors.numpy import load_file


def lines(path):
    return [json.loads(x) for x in open(path) if x.strip()]


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def main():
    out, steps, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sw, th = lines(f"{out}/swift-run/metrics.jsonl"), lines(f"{out}/torch-run/metrics.jsonl")
    by = {r["step"]: r for r in th}
    paired = [(r, by[r["step"]]) for r in sw if r["step"] in by and r.get("loss") is not None]
    loss_rel = max(rel(a["loss"], b["loss"]) for a, b in paired)
    norm_rel = max(rel(a["grad_norm"], b["grad_norm"]) for a, b in paired)
    lr_rel = max(rel(a["learning_rate"], b["learning_rate"]) for a, b in paired)
    fa, fb = load_file(f"{out}/swift-run/final/adapter_model.safetensors"), load_file(f"{out}/torch-run/final/adapter_model.safetensors")
    adapter_rel = max(float(abs(fa[k] - fb[k]).max() / max(abs(fa[k]).max(), 1e-12)) for k in fa)
    evals = {}
    for who in ("swift", "torch"):
        for engine in ("swift", "torch"):
            d = f"{out}/eval-{who}-adapter-by-{engine}"
            m = json.load(open(f"{d}/metrics.json"))
            items = {(i["id"], i["mode"], i["sample"]): i for i in lines(f"{d}/items.jsonl")}
            n = sum(g["n"] for g in m["metrics"].values())
            c = sum(g["correct"] for g in m["metrics"].values())
            evals[f"{who}-adapter/{engine}"] = {"items": items, "n": n, "correct": c, "questions_per_second": m["questions_per_second"],
                                                "engine": m.get("engine", "strawberry")}
    agree = {}
    for who in ("swift", "torch"):
        a, b = evals[f"{who}-adapter/swift"]["items"], evals[f"{who}-adapter/torch"]["items"]
        same = sum(1 for k in a if k in b and a[k]["output"] == b[k]["output"])
        agree[who] = {"items": len(a), "identical_outputs": same, "same_keys": set(a) == set(b)}
    tps = lambda rs: sum(r["tokens_per_second"] for r in rs if r.get("tokens_per_second")) / max(1, sum(1 for r in rs if r.get("tokens_per_second")))
    result = {"steps": steps, "limit": limit, "paired_log_lines": len(paired), "max_relative_difference": {
        "loss": loss_rel, "grad_norm": norm_rel, "learning_rate": lr_rel, "final_adapter": adapter_rel},
        "final_loss": {"swift": sw[-1]["loss"], "torch": th[-1]["loss"]},
        "training_tokens_per_second_mean": {"swift": tps(sw), "torch": tps(th)},
        "evaluation": {k: {x: v[x] for x in ("n", "correct", "questions_per_second", "engine")} for k, v in evals.items()},
        "output_agreement": {k: {"items": v["items"], "identical_outputs": v["identical_outputs"], "same_questions": v["same_keys"]} for k, v in agree.items()},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    try:
        import torch, transformers, peft
        result["machine"].update(torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__)
    except ImportError:
        pass
    json.dump(result, open(f"{out}/results.json", "w"), indent=1, sort_keys=True)
    p = lambda x: f"{x:.2e}"
    print(f"# PyTorch backend vs Strawberry on SmolLM2-135M-Instruct (CPU, float32)\n")
    print(f"Made by `scripts/backend-parity.sh` (STEPS={steps}, LIMIT={limit}); numbers from `results.json`. Both engines trained "
          f"`configs/train-smollm2.yaml` with LoRA on all linear layers, dropout 0, the same seed, {steps} optimizer steps, "
          "from the Q4_1 GGUF dequantised to float32 (transformers' GGUF loader on one side, Strawberry's on the other).\n")
    print("| training, every logged step | max relative difference |\n|---|---:|")
    print(f"| loss ({len(paired)} steps) | {p(loss_rel)} |\n| gradient norm | {p(norm_rel)} |\n| learning rate | {p(lr_rel)} |")
    print(f"| final adapter (max abs difference / max abs value, per tensor) | {p(adapter_rel)} |\n")
    print(f"Final loss: Strawberry {sw[-1]['loss']:.4f}, backend {th[-1]['loss']:.4f}.\n")
    print(f"| adapter trained by | evaluated by | questions | correct | identical outputs across engines |\n|---|---|---:|---:|---:|")
    for who in ("swift", "torch"):
        for engine in ("swift", "torch"):
            e = evals[f"{who}-adapter/{engine}"]
            name = {"swift": "Strawberry", "torch": "backend"}
            print(f"| {name[who]} | {name[engine]} | {e['n']} | {e['correct']} | {agree[who]['identical_outputs']} of {agree[who]['items']} |")
    print("\nGreedy decoding: identical outputs mean identical answers; a difference would come from near-tied logits "
          "(float32 sums in a different order), and shows here as fewer identical outputs.")
    print(f"\nIncidental timing on this CPU (not a benchmark): training {tps(sw):.0f} tokens/s (Strawberry) vs "
          f"{tps(th):.0f} tokens/s (backend, {result['machine'].get('torch', '?')}).")


main()

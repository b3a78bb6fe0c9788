#!/usr/bin/env python3
"""Compares the float32 and bf16 runs of scripts/bf16-parity.sh (issue 26's criteria): the training
loss at every logged step after warm-up within 2 % relative, and each adapter's validation spelling
accuracy inside the other's 95 % interval. Prints a Markdown summary; exits 1 when a criterion fails."""
import json, os, sys


def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def last_eval(log):
    e = [l["eval_loss"] for l in log if l.get("eval_loss") is not None]
    return f"{e[-1]:.4f}" if e else "—"


def main():
    d = sys.argv[1]
    f32, bf16 = lines(os.path.join(d, "train-f32.jsonl")), lines(os.path.join(d, "train-bf16.jsonl"))
    warmup = 10
    a = {l["step"]: l["loss"] for l in f32 if l.get("loss") is not None and l["step"] > warmup}
    b = {l["step"]: l["loss"] for l in bf16 if l.get("loss") is not None and l["step"] > warmup}
    steps = sorted(set(a) & set(b))
    rel = [(s, abs(b[s] - a[s]) / abs(a[s])) for s in steps]
    worst = max(rel, key=lambda x: x[1]) if rel else (None, float("nan"))
    ea, eb = [json.load(open(os.path.join(d, f"eval-{p}.json")))["metrics"] for p in ("f32", "bf16")]
    key = next(k for k in ea if k.startswith("spelling/direct"))
    ma, mb = ea[key], eb[key]
    inside = ma["accuracy_ci95"][0] <= mb["accuracy"] <= ma["accuracy_ci95"][1] and mb["accuracy_ci95"][0] <= ma["accuracy"] <= mb["accuracy_ci95"][1]
    secs = {p: int(open(os.path.join(d, f"train-{p}.seconds")).read()) for p in ("f32", "bf16")}
    curves_ok = bool(rel) and worst[1] <= 0.02
    out = [f"# bf16 against float32 base weights: {max(steps) if steps else 0} steps of the spelling recipe, same seed\n",
           "| step | loss f32 | loss bf16 | relative difference |", "|---:|---:|---:|---:|"]
    out += [f"| {s} | {a[s]:.4f} | {b[s]:.4f} | {r * 100:.2f} % |" for s, r in rel]
    out += ["", f"Largest relative difference after warm-up ({warmup} steps): {worst[1] * 100:.2f} % at step {worst[0]} "
            f"({'within' if curves_ok else 'OUTSIDE'} the 2 % bound); {sum(r > 0.02 for _, r in rel)} of {len(rel)} logged steps "
            f"differ by more than 2 %, the mean relative difference is {100 * sum(r for _, r in rel) / max(len(rel), 1):.2f} %; "
            f"validation loss at the last step: f32 {last_eval(f32)}, bf16 {last_eval(bf16)}.", "",
            "| base weights | validation spelling accuracy | 95 % interval | words | training wall time (s) |", "|---|---:|---|---:|---:|",
            f"| f32 | {ma['accuracy']:.3f} | [{ma['accuracy_ci95'][0]:.3f}, {ma['accuracy_ci95'][1]:.3f}] | {ma['n']} | {secs['f32']} |",
            f"| bf16 | {mb['accuracy']:.3f} | [{mb['accuracy_ci95'][0]:.3f}, {mb['accuracy_ci95'][1]:.3f}] | {mb['n']} | {secs['bf16']} |", "",
            f"Each accuracy {'lies' if inside else 'does NOT lie'} inside the other's 95 % interval."]
    ref = os.path.join(d, "train-f32-reordered.jsonl")
    if os.path.exists(ref):
        c = {l["step"]: l["loss"] for l in lines(ref) if l.get("loss") is not None and l["step"] > warmup}
        floor = [(s, abs(c[s] - a[s]) / abs(a[s])) for s in sorted(set(a) & set(c))]
        if floor:
            fw = max(floor, key=lambda x: x[1])
            out += ["", "The noise floor: float32 again, on OpenBLAS's AVX2 kernels (the same arithmetic summed in another order), "
                    f"against the first float32 run: largest relative difference {fw[1] * 100:.2g} % at step {fw[0]}, "
                    f"{sum(r > 0.02 for _, r in floor)} of {len(floor)} logged steps over 2 %, mean {100 * sum(r for _, r in floor) / len(floor):.2g} %"
                    + (" (identical: this OpenBLAS could not switch kernels)." if fw[1] == 0 else ".")]
            er = os.path.join(d, "eval-f32-reordered.json")
            if os.path.exists(er):
                mr = json.load(open(er))["metrics"][key]
                out.append(f"Its validation spelling accuracy: {mr['accuracy']:.3f} [{mr['accuracy_ci95'][0]:.3f}, {mr['accuracy_ci95'][1]:.3f}].")
    print("\n".join(out))
    return 0 if curves_ok and inside else 1


if __name__ == "__main__":
    sys.exit(main())

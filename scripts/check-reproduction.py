"""Compares a short rerun of an experiment with its committed results, file by file (issue 27's
reproduction check):

    python3 scripts/check-reproduction.py results/transfer out/transfer-repro results/transfer-reproduction \
        --run spelling-seed42 --stop-after 200

ORIGINAL is a collected results directory (scripts/collect-experiment.sh: items gzipped, adapters as
runs/*/adapters.sha256); RERUN is the rerun's working directory (`strawberry experiment run ... --out RERUN
--only RUN --stop-after STEP`). What the rerun must have reproduced is derived from the original (its spec's
checkpoints up to STEP), not from what the rerun happens to hold, and each file must exist on both sides:

  data/ARM/manifest.json, README.md       the run's dataset
  eval/base/validation/                   the base model on validation
  eval/RUN/step-N/ for each scored N ≤ STEP:
      items.jsonl                         every scored question, byte for byte (the committed copy decompressed)
      metrics.json                        byte for byte once the timing fields are set aside
  runs/RUN/checkpoint-N/adapter_model.safetensors   SHA-256 against runs/RUN/adapters.sha256
  runs/RUN/metrics.jsonl                  the training log's lines up to STEP, timing aside
  runs/RUN/config.yaml                    the resolved training config

Set aside, and listed in the output: the timing fields (`seconds`, `questions_per_second`,
`tokens_per_second`), and the working directory's own name where a file records a path under it (the
rerun writes to another directory, e.g. `out/transfer-repro/runs/...` for `out/transfer/runs/...`): such a
path is compared from the working directory down. Nothing else is.

Writes OUT/comparison.md and OUT/comparison.json (to temporary names, then renamed); exits 1 when a file
differs or is missing on either side, 2 on bad arguments. Other files of the rerun's run and evaluations
(e.g. its resume checkpoints) are listed as not compared.
"""
import gzip
import hashlib
import json
import argparse
import os
import sys
from pathlib import Path

TIMING = {"seconds", "questions_per_second", "tokens_per_second"}
LOCATION = {"adapter", "data", "output_dir"}


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def workdir_of(record: dict):
    """The working directory a record was written under, from its dataset path (WORKDIR/data/ARM)."""
    d = record.get("data")
    if isinstance(d, str) and "/data/" in d:
        return d[: d.rindex("/data/")]
    return None


def relocated(value, workdir):
    """A path under the working directory, from the working directory down ("<out>/runs/...")."""
    if isinstance(value, str) and workdir and (value == workdir or value.startswith(workdir + "/")):
        return "<out>" + value[len(workdir):]
    return value


def normalised(record: dict, set_aside: set):
    workdir = workdir_of(record)
    out = {}
    for k, v in record.items():
        if k in TIMING:
            set_aside.add(k)
            continue
        if k in LOCATION:
            v2 = relocated(v, workdir)
            if v2 != v:
                set_aside.add(f"{k} (working directory)")
            v = v2
        out[k] = v
    return out


def compare(original: Path, rerun: Path, run: str, stop: int):
    rows = []

    def row(rel, result, a=None, b=None, note=""):
        rows.append({"file": rel, "result": result, "original_sha256": a, "rerun_sha256": b, "note": note})

    def both(rel, a: Path, b: Path):
        """Both files exist (else a failing row, and False)."""
        if not a.exists():
            row(rel, "missing in original")
            return False
        if not b.exists():
            row(rel, "missing in rerun")
            return False
        return True

    def same_bytes(rel, a: Path, b: Path):
        if both(rel, a, b):
            ba, bb = a.read_bytes(), b.read_bytes()
            row(rel, "identical" if ba == bb else "DIFFERENT", sha(ba), sha(bb))

    spec = json.loads((original / "spec.json").read_text())
    arm = run.rsplit("-seed", 1)[0]
    scored = [n for n in spec.get("checkpoints", []) if n <= stop]
    if not scored:
        row(f"eval/{run}/step-N", "nothing scored", note=f"the original's checkpoints {spec.get('checkpoints')} have none ≤ {stop}")

    # The run's dataset.
    for name in ["manifest.json", "README.md"]:
        same_bytes(f"data/{arm}/{name}", original / "data" / arm / name, rerun / "data" / arm / name)

    # Evaluations: the base model on validation, and each scored checkpoint up to the stop.
    def evaluation(e):
        o, r = original / e, rerun / e
        items_o = o / "items.jsonl.gz" if (o / "items.jsonl.gz").exists() else o / "items.jsonl"
        items_r = r / "items.jsonl" if (r / "items.jsonl").exists() else r / "items.jsonl.gz"
        if both(e + "/items.jsonl", items_o, items_r):
            def text(p):
                return gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
            a, b = text(items_o), text(items_r)
            row(e + "/items.jsonl", "identical" if a == b else "DIFFERENT", sha(a), sha(b))
        if both(e + "/metrics.json", o / "metrics.json", r / "metrics.json"):
            ba, bb = (o / "metrics.json").read_bytes(), (r / "metrics.json").read_bytes()
            if ba == bb:
                row(e + "/metrics.json", "identical", sha(ba), sha(bb))
            else:
                aside = set()
                same = normalised(json.loads(ba), aside) == normalised(json.loads(bb), aside)
                row(e + "/metrics.json", "identical except set-aside fields" if same else "DIFFERENT", sha(ba), sha(bb),
                    ", ".join(sorted(aside)))

    evaluations = ["eval/base/validation"] + [f"eval/{run}/step-{n}" for n in scored]
    for e in evaluations:
        evaluation(e)

    # The run: scored checkpoints' adapters, the training log to the stop, the resolved config.
    listed = {}
    sums = original / "runs" / run / "adapters.sha256"
    if sums.exists():
        for line in sums.read_text().splitlines():
            h, _, p = line.partition("  ")
            listed[p.strip()] = h
    else:
        row(f"runs/{run}/adapters.sha256", "missing in original")
    for n in scored:
        rel = f"checkpoint-{n}/adapter_model.safetensors"
        f = rerun / "runs" / run / rel
        want = listed.get(rel)
        if want is None:
            row(f"runs/{run}/{rel}", "missing in original")
        elif not f.exists():
            row(f"runs/{run}/{rel}", "missing in rerun")
        else:
            h = sha(f.read_bytes())
            row(f"runs/{run}/{rel}", "identical" if want == h else "DIFFERENT", want, h)

    a, b = original / "runs" / run / "metrics.jsonl", rerun / "runs" / run / "metrics.jsonl"
    rel = f"runs/{run}/metrics.jsonl (steps ≤ {stop})"
    if both(rel, a, b):
        def lines(p, aside):
            out = []
            for line in p.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    if rec.get("step", 0) <= stop:
                        out.append(normalised(rec, aside))
            return out
        aside = set()
        la, lb = lines(a, aside), lines(b, aside)
        reached = any(r.get("step") == stop for r in lb)
        result = "DIFFERENT" if la != lb else "identical except set-aside fields" if reached else "DIFFERENT"
        row(rel, result, note=", ".join(sorted(aside)) + f"; {len(lb)} lines" + ("" if reached else f"; the rerun's log does not reach step {stop}"))

    a, b = original / "runs" / run / "config.yaml", rerun / "runs" / run / "config.yaml"
    rel = f"runs/{run}/config.yaml"
    if both(rel, a, b):
        ta, tb = a.read_text(), b.read_text()

        def strip(t):
            # The config names its data and output directory under the working directory.
            wd = None
            for line in t.splitlines():
                k, _, v = line.partition(":")
                if k.strip() == "data" and "/data/" in v:
                    v = v.strip().strip("'\"")
                    wd = v[: v.rindex("/data/")]
            return t.replace(wd + "/", "<out>/") if wd else t
        if ta == tb:
            row(rel, "identical", sha(ta.encode()), sha(tb.encode()))
        elif strip(ta) == strip(tb):
            row(rel, "identical except set-aside fields", sha(ta.encode()), sha(tb.encode()), "output_dir, data (working directory)")
        else:
            row(rel, "DIFFERENT", sha(ta.encode()), sha(tb.encode()))

    # Whatever else the rerun made in its run and evaluations, listed (its resume checkpoints, say).
    compared = {r["file"].split(" (")[0] for r in rows}
    for base in [rerun / "runs" / run, rerun / "eval" / run]:
        for f in sorted(base.rglob("*")) if base.exists() else []:
            rel = f.relative_to(rerun).as_posix()
            if f.is_file() and rel not in compared and not any(rel.startswith(e + "/") for e in evaluations) \
                    and not rel.endswith(("/adapter_config.json", "/trainer_state.json", "/optimizer.safetensors", "/loss_curve.svg")):
                row(rel, "not compared")
    return rows


OK = ("identical", "identical except set-aside fields")


def main():
    ap = argparse.ArgumentParser(description="A short rerun of an experiment against its committed results.")
    ap.add_argument("original")
    ap.add_argument("rerun")
    ap.add_argument("out")
    ap.add_argument("--run", required=True, help="the rerun's run, ARM-seedS (e.g. spelling-seed42)")
    ap.add_argument("--stop-after", type=int, required=True, help="the step the rerun stopped at")
    args = ap.parse_args()
    original, rerun, out = Path(args.original), Path(args.rerun), Path(args.out)
    for p in [original, rerun]:
        if not p.is_dir():
            print(f"{p} is not a directory", file=sys.stderr)
            return 2
    if not (original / "spec.json").is_file():
        print(f"{original}/spec.json is missing: ORIGINAL must be a collected results directory", file=sys.stderr)
        return 2
    if "-seed" not in args.run or args.stop_after < 1:
        print("--run names ARM-seedS and --stop-after a step ≥ 1", file=sys.stderr)
        return 2
    rows = compare(original, rerun, args.run, args.stop_after)
    listed_only = [r for r in rows if r["result"] == "not compared"]
    checked = [r for r in rows if r["result"] != "not compared"]
    bad = [r for r in checked if r["result"] not in OK]
    verdict = "reproduced" if checked and not bad else "NOT reproduced"
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# Reproduction check: `{rerun}` against `{original}`", "",
          f"Run `{args.run}`, stopped after step {args.stop_after}.", "",
          f"**{verdict}**: {len(checked) - len(bad)} of {len(checked)} files identical (timing fields and the working "
          "directory's name set aside where noted)" + (f"; {len(listed_only)} other files of the rerun are listed, not compared." if listed_only else "."), "",
          "Set aside: " + ", ".join(sorted(TIMING)) + "; paths under the working directory are compared from it down.", "",
          "| file | result | note | SHA-256 (original / rerun) |", "|---|---|---|---|"]
    for r in checked + listed_only:
        hashes = " / ".join(h[:16] for h in [r["original_sha256"], r["rerun_sha256"]] if h) or "–"
        md.append(f"| `{r['file']}` | {r['result']} | {r['note'] or '–'} | {hashes} |")
    record = {"verdict": verdict, "original": str(original), "rerun": str(rerun), "run": args.run, "stop_after": args.stop_after,
              "files": checked + listed_only}
    for name, text in [("comparison.md", "\n".join(md) + "\n"), ("comparison.json", json.dumps(record, indent=2, sort_keys=True) + "\n")]:
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out / name)
    print(f"{verdict}: {len(checked) - len(bad)} of {len(checked)} files identical; {out}/comparison.md")
    return 0 if verdict == "reproduced" else 1


if __name__ == "__main__":
    sys.exit(main())

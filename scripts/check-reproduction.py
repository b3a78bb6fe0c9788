"""Compares a short rerun of an experiment with its committed results, file by file (issue 27's
reproduction check):

    python3 scripts/check-reproduction.py results/transfer out/transfer-repro results/transfer-reproduction

ORIGINAL is a collected results directory (scripts/collect-experiment.sh: items gzipped, adapters as
runs/*/adapters.sha256); RERUN is the rerun's working directory (`strawberry experiment run ... --out RERUN
--only RUN --stop-after STEP`). Every result file the rerun made is compared with its counterpart:

  data/*/manifest.json, README.md        the datasets
  eval/**/items.jsonl                     every scored question, byte for byte (the committed copy decompressed)
  eval/**/metrics.json                    byte for byte once the timing fields are set aside
  runs/*/checkpoint-N/adapter_model.safetensors   SHA-256 against runs/*/adapters.sha256
  runs/*/metrics.jsonl                    the training log's lines up to the rerun's last step, timing aside
  runs/*/config.yaml                      the resolved training config

Set aside, and listed in the output: the timing fields (`seconds`, `questions_per_second`,
`tokens_per_second`), and the working directory's own name where a file records a path under it (the
rerun writes to another directory, e.g. `out/transfer-repro/runs/...` for `out/transfer/runs/...`): such a
path is compared from the working directory down. Nothing else is.

Writes OUT/comparison.md and OUT/comparison.json (to temporary names, then renamed); exits 1 when a file
differs or has no counterpart, 2 on bad arguments. A rerun checkpoint the original did not keep (it keeps
the scored ones and its newest resume point) is listed, not compared.
"""
import gzip
import hashlib
import json
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


def compare(original: Path, rerun: Path):
    rows = []

    def row(rel, result, a=None, b=None, note=""):
        rows.append({"file": rel, "result": result, "original_sha256": a, "rerun_sha256": b, "note": note})

    # Datasets.
    for d in sorted((rerun / "data").glob("*/")):
        for name in ["manifest.json", "README.md"]:
            rel = f"data/{d.name}/{name}"
            a, b = original / rel, d / name
            if not b.exists():
                continue
            if not a.exists():
                row(rel, "missing in original", None, sha(b.read_bytes()))
                continue
            same = a.read_bytes() == b.read_bytes()
            row(rel, "identical" if same else "DIFFERENT", sha(a.read_bytes()), sha(b.read_bytes()))

    # Evaluations: every directory with a metrics.json.
    for m in sorted(rerun.glob("eval/**/metrics.json")):
        e = m.parent.relative_to(rerun).as_posix()
        o = original / e
        if not (o / "metrics.json").exists():
            row(e + "/", "missing in original")
            continue
        items_a = gzip.decompress((o / "items.jsonl.gz").read_bytes()) if (o / "items.jsonl.gz").exists() else (o / "items.jsonl").read_bytes()
        items_b = (m.parent / "items.jsonl").read_bytes() if (m.parent / "items.jsonl").exists() else gzip.decompress((m.parent / "items.jsonl.gz").read_bytes())
        row(e + "/items.jsonl", "identical" if items_a == items_b else "DIFFERENT", sha(items_a), sha(items_b))
        ma, mb = json.loads((o / "metrics.json").read_text()), json.loads(m.read_text())
        aside = set()
        na, nb = normalised(ma, aside), normalised(mb, aside)
        if (o / "metrics.json").read_bytes() == m.read_bytes():
            row(e + "/metrics.json", "identical", sha((o / "metrics.json").read_bytes()), sha(m.read_bytes()))
        else:
            row(e + "/metrics.json", "identical except set-aside fields" if na == nb else "DIFFERENT",
                sha((o / "metrics.json").read_bytes()), sha(m.read_bytes()), ", ".join(sorted(aside)))

    # Training runs.
    for r in sorted((rerun / "runs").glob("*/")):
        name = r.name
        listed = {}
        sums = original / "runs" / name / "adapters.sha256"
        if sums.exists():
            for line in sums.read_text().splitlines():
                h, _, p = line.partition("  ")
                listed[p.strip()] = h
        steps = []
        for ck in sorted(r.glob("checkpoint-*/adapter_model.safetensors")):
            rel = ck.relative_to(r).as_posix()
            steps.append(int(ck.parent.name.split("-")[1]))
            h = sha(ck.read_bytes())
            want = listed.get(rel)
            # The original keeps only its scored checkpoints and its newest resume point; others are not compared.
            row(f"runs/{name}/{rel}", "not kept in the original" if want is None else "identical" if want == h else "DIFFERENT", want, h)
        last = max(steps) if steps else 0
        a, b = original / "runs" / name / "metrics.jsonl", r / "metrics.jsonl"
        if a.exists() and b.exists():
            def lines(p):
                out, aside = [], set()
                for line in p.read_text().splitlines():
                    if not line.strip():
                        continue
                    rec = json.loads(line)
                    if rec.get("step", 0) <= last:
                        out.append(normalised(rec, aside))
                return out, aside
            la, aside_a = lines(a)
            lb, aside_b = lines(b)
            row(f"runs/{name}/metrics.jsonl (steps ≤ {last})", "identical except set-aside fields" if la == lb else "DIFFERENT",
                note=", ".join(sorted(aside_a | aside_b)) + f"; {len(lb)} lines")
        a, b = original / "runs" / name / "config.yaml", r / "config.yaml"
        if a.exists() and b.exists():
            ta, tb = a.read_text(), b.read_text()
            # The config names its data and output directory under the working directory.
            def strip(t):
                wd = None
                for line in t.splitlines():
                    k, _, v = line.partition(":")
                    if k.strip() == "data" and "/data/" in v:
                        v = v.strip().strip("'\"")
                        wd = v[: v.rindex("/data/")]
                return t.replace(wd + "/", "<out>/") if wd else t
            same = ta == tb
            row(f"runs/{name}/config.yaml", "identical" if same else "identical except set-aside fields" if strip(ta) == strip(tb) else "DIFFERENT",
                sha(ta.encode()), sha(tb.encode()), "" if same else "output_dir, data (working directory)")
    return rows


def main():
    if len(sys.argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    original, rerun, out = map(Path, sys.argv[1:])
    for p in [original, rerun]:
        if not p.is_dir():
            print(f"{p} is not a directory", file=sys.stderr)
            return 2
    rows = compare(original, rerun)
    skipped = [r for r in rows if r["result"] == "not kept in the original"]
    rows = [r for r in rows if r not in skipped] + skipped
    compared = len(rows) - len(skipped)
    bad = [r for r in rows if r["result"] not in ("identical", "identical except set-aside fields", "not kept in the original")]
    verdict = "reproduced" if compared and not bad else "NOT reproduced" if compared else "nothing compared"
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# Reproduction check: `{rerun}` against `{original}`", "",
          f"**{verdict}**: {compared - len(bad)} of {compared} files identical"
          + (" (timing fields and the working directory's name set aside where noted)" if compared else "")
          + (f"; {len(skipped)} rerun checkpoints the original did not keep are not compared." if skipped else "."), "",
          "Set aside: " + ", ".join(sorted(TIMING)) + "; paths under the working directory are compared from it down.", "",
          "| file | result | note | SHA-256 (original / rerun) |", "|---|---|---|---|"]
    for r in rows:
        hashes = " / ".join(h[:16] for h in [r["original_sha256"], r["rerun_sha256"]] if h) or "–"
        md.append(f"| `{r['file']}` | {r['result']} | {r['note'] or '–'} | {hashes} |")
    for name, text in [("comparison.md", "\n".join(md) + "\n"),
                       ("comparison.json", json.dumps({"verdict": verdict, "original": str(original), "rerun": str(rerun), "files": rows},
                                                      indent=2, sort_keys=True) + "\n")]:
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out / name)
    print(f"{verdict}: {compared - len(bad)} of {compared} files identical; {out}/comparison.md")
    return 0 if compared and not bad else 1


if __name__ == "__main__":
    sys.exit(main())

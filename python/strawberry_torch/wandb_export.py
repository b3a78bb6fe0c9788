"""`strawberry-torch wandb-sync`: the runs of a Strawberry store in Weights & Biases, through the real
`wandb` client (offline first: `wandb sync` uploads later).

For each run of the store (read through `strawberry runs list --json`, the store's own reader):
  - a W&B run whose id is the Strawberry run id (W&B's id alphabet is the same), so the store and W&B
    name the run the same way;
  - group `backbone=<model>_recipe=<hash>` (the hash of the training run's config.yaml, the one in the
    Hub path); evaluations, comparisons and deployments join the group of the training run they came from;
  - config: the run's parameters, its lineage (dataset, base model and adapter SHA-256s) and parent runs;
  - history with steps: metrics.jsonl for training, metrics.json for evaluations (the store's metric
    points where those files are gone), summary = last values, 95 % intervals as `…_low` / `…_high` keys;
  - per-item evaluation records as a `wandb.Table`, the run's SVG charts as HTML panels;
  - a training run's recipe as an `architecture` artifact holding `architecture.json`.

Exporting is idempotent: a ledger beside the W&B files (`strawberry-wandb-exports.json`) keeps each
exported run's digest; a run exported before with the same digest is skipped, and online the W&B run's
own summary (`strawberry/digest`) is checked too. Parameters that look like secrets (key, token, secret,
password) are never logged, and the API key is never printed.
"""
from __future__ import annotations

import gzip
import hashlib
import tempfile
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

LEDGER = "strawberry-wandb-exports.json"
# Names of values that must never leave the machine: anything with secret/password/credential in it, and
# names ending in key, token or auth (hf_token, api_key, hub_key, access_key), not max_new_tokens or tokenizer.
SECRET = re.compile(r"(secret|passw(or)?d|credential|(^|[_.\-/])(api[_-]?key|access[_-]?key|key|token|auth)$)", re.I)
WANDB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A 95 % interval's key: accuracy_ci95, ci95, ci.
INTERVAL = re.compile(r"(^|_)ci(\d+)?$")
# W&B steps are 64-bit; a step beyond what a float holds exactly is damage, not a step.
MAX_STEP = 1 << 53
# W&B tables hold at most this many rows by default (wandb.Table.MAX_ROWS); more are cut and said so.
MAX_TABLE_ROWS = 10_000


class ExportError(RuntimeError):
    """Something the export cannot do; the message says what to change."""


@dataclass
class Exported:
    run_id: str
    wandb_id: str
    action: str                      # "exported" | "unchanged"
    directory: Optional[str] = None  # the offline run's folder (offline mode)
    notes: list[str] = field(default_factory=list)
    streamed: Optional[str] = None   # where the run's steps were streamed while training (RUN_DIR/wandb), if they were


# ---- reading the store -----------------------------------------------------------------------

def strawberry_binary(explicit: Optional[str] = None) -> str:
    """The Swift tool that reads the store: --strawberry, else $STRAWBERRY_BIN, else PATH (no torch import
    on the way: exporting needs neither torch nor transformers)."""
    cand = explicit or os.environ.get("STRAWBERRY_BIN") or shutil.which("strawberry")
    if not cand or not (os.path.isfile(cand) and os.access(cand, os.X_OK)):
        raise ExportError(f"no strawberry binary{' at ' + cand if cand else ''}: build it (make build) and give --strawberry PATH or set STRAWBERRY_BIN")
    return cand


def store_runs(binary: str, store: str) -> list[dict[str, Any]]:
    """Every run of the store, as `strawberry runs list --json` prints it (oldest first)."""
    env = dict(os.environ, STRAWBERRY_RECORD_RUNS="0")
    p = subprocess.run([binary, "runs", "list", "--json", "--store", store], capture_output=True, text=True, env=env, timeout=300)
    if p.returncode != 0:
        raise ExportError(f"`strawberry runs list --store {store}` failed: {p.stderr.strip()[-2000:]}")
    try:
        runs = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise ExportError(f"`strawberry runs list --json` printed something that is not JSON ({e}); is {binary} the Strawberry tool?")
    if not isinstance(runs, list):
        raise ExportError("`strawberry runs list --json` did not print a list of runs")
    return sorted(runs, key=lambda r: (r.get("created", 0), r.get("id", "")))


def wandb_id(run_id: str) -> str:
    """The W&B run id: the Strawberry id itself when W&B accepts it, else a stable hash of it."""
    if WANDB_ID.fullmatch(run_id):
        return run_id
    return "sb-" + hashlib.sha256(run_id.encode()).hexdigest()[:20]


def live_run(run: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The W&B run a training run was streamed to (`report_to: wandb`), when the follower finished it."""
    if run.get("kind") != "train" or not (d := run_dir(run)):
        return None
    from .wandb_live import read_live
    doc = read_live(d)
    return doc if doc and doc.get("finished") else None


def hub_publication(run: dict[str, Any]) -> Optional[dict[str, str]]:
    """Where `publish` uploaded the run's adapter (RUN_DIR/hub_publication.json): repo, folder, its URL, commit."""
    path = run_file(run, "hub_publication.json") if run.get("kind") == "train" else None
    doc = _json(_read_text(path, 1 << 16) or "") if path else None
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str) or not doc["url"].startswith(("https://", "http://")):
        return None
    return {k: str(doc[k]) for k in ("repo_id", "path_in_repo", "revision", "url", "commit") if isinstance(doc.get(k), (str, int))}


def run_wandb_id(run: dict[str, Any], live: Optional[dict[str, Any]]) -> str:
    """The W&B id a run is exported under: the streamed run's (`live`, from `live_run`), else the Strawberry id."""
    return live["wandb_id"] if live else wandb_id(run["id"])


def _read_bytes(path: str, limit: int = 64 << 20) -> Optional[bytes]:
    """A file's bytes (decompressed for .gz, at most `limit` of them either way), or None when it cannot be read."""
    try:
        if not os.path.isfile(path):
            return None
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read(limit + 1)
        return data if len(data) <= limit else None
    except (OSError, EOFError, zlib.error):
        return None


def _read_text(path: str, limit: int = 64 << 20) -> Optional[str]:
    data = _read_bytes(path, limit)
    try:
        return data.decode("utf-8") if data is not None else None
    except UnicodeDecodeError:
        return None


def _json(text: str) -> Any:
    """A JSON value, or None for text that is not JSON or that Python cannot hold (a 5000-digit number,
    nesting deep enough to exhaust the stack)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError, OverflowError):
        return None


def _sha256(path: str) -> Optional[str]:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def run_file(run: dict[str, Any], name: str) -> Optional[str]:
    """The path of one of the run's files, when it is there and, where the store recorded its SHA-256, still
    holds what was recorded (a file rewritten since, or another run's output in the same folder, is not
    this run's)."""
    d = run_dir(run)
    if not d:
        return None
    path = os.path.join(d, name)
    if not os.path.isfile(path):
        return None
    recorded = run.get("artifacts", {}).get(os.path.realpath(path)) or run.get("artifacts", {}).get(path)
    if recorded and _sha256(path) != recorded:
        return None
    return path


def run_dir(run: dict[str, Any]) -> Optional[str]:
    """Where the run wrote its files (its `out` parameter), when that folder is still there."""
    out = run.get("params", {}).get("out") or run.get("lineage", {}).get("run_dir")
    return out if out and os.path.isdir(out) else None


def recipe(run: dict[str, Any]) -> Optional[tuple[str, str, str]]:
    """(backbone, recipe hash, config.yaml text) of a training run: the hash is the first 12 hex digits of the
    SHA-256 of its config.yaml, as in the Hub path `publish` writes."""
    path = run_file(run, "config.yaml")
    data = _read_bytes(path, 1 << 20) if path else None
    if data is None:
        return None
    model = str(run.get("params", {}).get("model", "model")).rstrip("/")
    backbone = os.path.basename(model) or "model"
    return backbone, hashlib.sha256(data).hexdigest()[:12], data.decode("utf-8", errors="replace")


def groups(runs: list[dict[str, Any]]) -> dict[str, str]:
    """run id → W&B group: a training run's `backbone=…_recipe=…`, inherited by the runs that descend from it."""
    by_id = {r["id"]: r for r in runs}
    memo: dict[str, str] = {}

    def group(rid: str, seen: frozenset[str]) -> str:
        if rid in memo:
            return memo[rid]
        r = by_id.get(rid)
        g = ""
        if r is not None and rid not in seen and len(seen) < 64:   # lineage deeper than this is not a pipeline
            if r.get("kind") == "train" and (rc := recipe(r)):
                g = f"backbone={rc[0]}_recipe={rc[1]}"
            else:
                for p in r.get("parents", []):
                    if (g := group(p, seen | {rid})):
                        break
        memo[rid] = g
        return g

    def fallback(r: dict[str, Any]) -> str:
        # A run of the base model alone (an evaluation without an adapter) has no recipe: grouped by backbone.
        model = r.get("params", {}).get("model", "").rstrip("/")
        return f"backbone={os.path.basename(model)}_base" if model else f"kind={r.get('kind', 'run')}"

    return {r["id"]: group(r["id"], frozenset()) or fallback(r) for r in runs}


# ---- what is logged ----------------------------------------------------------------------------

def _finite(v: Any) -> bool:
    try:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    except OverflowError:   # an integer too large for a float
        return False


def flatten_metrics(node: Any, prefix: str = "") -> dict[str, float]:
    """Numbers of a metrics.json tree as `a/b/c` keys; a 95 % interval `x_ci95: [lo, hi]` (or `ci95`)
    becomes `x_ci95_low` and `x_ci95_high`. Strings and other lists are left out."""
    out: dict[str, float] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}/{k}" if prefix else str(k)
            if isinstance(v, list) and len(v) == 2 and INTERVAL.search(str(k)) and all(_finite(x) for x in v):
                out[key + "_low"], out[key + "_high"] = float(v[0]), float(v[1])
            elif isinstance(v, dict):
                out.update(flatten_metrics(v, key))
            elif _finite(v):
                out[key] = float(v)
    return out


def metrics_row(line: str) -> Optional[tuple[int, dict[str, float]]]:
    """One line of metrics.jsonl as (step, its finite numbers), or None for a line that is damaged, has no usable
    step, or carries no number (the export and the live follower read the file alike)."""
    rec = _json(line)
    if not isinstance(rec, dict) or not isinstance(rec.get("step"), int) or not 0 <= rec["step"] <= MAX_STEP:
        return None
    vals = {k: float(v) for k, v in rec.items() if k != "step" and _finite(v)}
    return (rec["step"], vals) if vals else None


def history(run: dict[str, Any]) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) rows, steps ascending: a training run's metrics.jsonl, an evaluation's metrics.json
    (one row at step 0), else the store's own metric points."""
    path = run_file(run, "metrics.jsonl") if run.get("kind") == "train" else None
    if path and (text := _read_text(path)) is not None:
        rows: dict[int, dict[str, float]] = {}
        for line in text.splitlines():
            if (row := metrics_row(line)) is not None:
                rows.setdefault(row[0], {}).update(row[1])
        if rows:
            return sorted(rows.items())
    path = run_file(run, "metrics.json") if run.get("kind") == "eval" else None
    if path and (text := _read_text(path)) is not None:
        doc = _json(text)
        if isinstance(doc, dict):
            vals = flatten_metrics(doc.get("metrics", {}))
            for k in ("questions", "questions_per_second", "tokens_per_second", "seconds"):
                if _finite(doc.get(k)):
                    vals[k] = float(doc[k])
            if vals:
                return [(0, vals)]
    rows = {}
    for name, points in run.get("metrics", {}).items():
        for p in points:
            if isinstance(p, dict) and isinstance(p.get("step"), int) and 0 <= p["step"] <= MAX_STEP and _finite(p.get("value")):
                rows.setdefault(p["step"], {})[name] = float(p["value"])
    return sorted(rows.items())


def config_of(run: dict[str, Any]) -> dict[str, Any]:
    """Parameters (secrets left out), lineage hashes and parent runs."""
    cfg: dict[str, Any] = {k: v for k, v in run.get("params", {}).items() if not SECRET.search(k)}
    for k, v in run.get("lineage", {}).items():
        if not SECRET.search(k):
            cfg[f"lineage/{k}"] = v
    cfg["strawberry/run_id"] = run["id"]
    cfg["strawberry/kind"] = run.get("kind", "")
    cfg["strawberry/parents"] = list(run.get("parents", []))
    return cfg


def item_rows(run: dict[str, Any]) -> Optional[tuple[list[str], list[list[Any]], int]]:
    """An evaluation's per-item records as (columns, rows, total): nested values as JSON text."""
    path = run_file(run, "items.jsonl") or run_file(run, "items.jsonl.gz")
    text = _read_text(path) if path else None
    if text is None:
        return None
    recs = []
    for line in text.splitlines():
        rec = _json(line)
        if isinstance(rec, dict):
            recs.append(rec)
    if not recs:
        return None
    columns = sorted({k for r in recs for k in r})
    def cell(v: Any) -> Any:
        # Every cell as text or a finite number; anything else (nested records, NaN) as its JSON text.
        if v is None or isinstance(v, (str, bool)) or _finite(v):
            return v
        try:
            return json.dumps(v, sort_keys=True, ensure_ascii=False)
        except (ValueError, RecursionError, OverflowError):
            return str(v)
    rows = [[cell(r.get(c)) for c in columns] for r in recs[:MAX_TABLE_ROWS]]
    return columns, rows, len(recs)


def charts(run: dict[str, Any]) -> dict[str, str]:
    """name → SVG text of the charts in the run's folder."""
    d = run_dir(run)
    out = {}
    if d:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            names = []
        for name in names:
            if name.endswith(".svg") and (path := run_file(run, name)) and (text := _read_text(path, 8 << 20)) is not None:
                out[name[:-4]] = text
    return out


def digest(run: dict[str, Any]) -> str:
    """What an export of `run` would send: its store record and the files read from its folder (a run
    recorded again, or whose files changed, is exported again)."""
    h = hashlib.sha256(json.dumps(run, sort_keys=True, separators=(",", ":")).encode())
    d = run_dir(run)
    if d:
        for name in ("config.yaml", "metrics.jsonl", "metrics.json", "items.jsonl", "items.jsonl.gz", "hub_publication.json",
                     *(f"{c}.svg" for c in charts(run))):
            if (path := run_file(run, name)) and (sha := _sha256(path)):
                h.update(f"\n{name}:{sha}".encode())
    return h.hexdigest()[:16]


# ---- modes, the ledger, the export -------------------------------------------------------------

def has_api_key() -> bool:
    """Whether W&B credentials are configured (the variable, or a netrc entry for the W&B host); never read out."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = re.sub(r"^https?://", "", os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).split("/")[0]
    netrc = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    text = _read_text(netrc, 1 << 20) or ""
    return f"machine {host}" in text


def resolve_mode(requested: Optional[str]) -> str:
    """--mode, else WANDB_MODE, else online with credentials and offline without."""
    mode = requested or os.environ.get("WANDB_MODE") or ("online" if has_api_key() else "offline")
    if mode == "dryrun":
        mode = "offline"
    if mode == "disabled":
        raise ExportError("W&B is disabled (WANDB_MODE=disabled): nothing would be written; unset it or give --mode offline")
    if mode not in ("online", "offline"):
        raise ExportError(f"W&B mode '{mode}' is not online or offline")
    return mode


class Ledger:
    """What was exported where: destination (mode, entity, project) → run id → digest, kept in the W&B folder
    and written atomically. A ledger that cannot be read is an error, never silently started afresh (that
    would export every run a second time)."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, LEDGER)
        self.entries: dict[str, dict[str, dict[str, str]]] = {}
        if not os.path.lexists(self.path):
            return
        text = _read_text(self.path, 64 << 20)
        doc = _json(text) if text is not None else None
        if not isinstance(doc, dict) or not all(isinstance(v, dict) and all(isinstance(e, dict) for e in v.values()) for v in doc.values()):
            raise ExportError(f"{self.path} is not a ledger this tool wrote; move it away to export every run again")
        self.entries = doc

    @staticmethod
    def destination(mode: str, entity: Optional[str], project: str) -> str:
        return f"{mode}:{entity or ''}:{project}"

    def seen(self, dest: str, run_id: str, dig: str) -> bool:
        return self.entries.get(dest, {}).get(run_id, {}).get("digest") == dig

    def add(self, dest: str, run_id: str, **entry: str) -> None:
        self.entries.setdefault(dest, {})[run_id] = entry
        fd, tmp = tempfile.mkstemp(prefix=".strawberry-wandb-", dir=os.path.dirname(self.path))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.entries, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise


def _offline_dirs(wandb_root: str, wid: str) -> list[str]:
    base = os.path.join(wandb_root, "wandb")
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return [os.path.join(base, n) for n in names if n.startswith("offline-run-") and n.endswith("-" + wid)]


def _offline_dir(wandb_root: str, wid: str) -> Optional[str]:
    cands = _offline_dirs(wandb_root, wid)
    return max(cands, key=os.path.getmtime) if cands else None


def _online_unchanged(wandb: Any, entity: Optional[str], project: str, wid: str, dig: str) -> bool:
    """Whether W&B already holds this run with this digest (online mode; any failure: not known to be)."""
    try:
        api = wandb.Api(timeout=30)
        path = "/".join(p for p in (entity or api.default_entity, project, wid) if p)
        return api.run(path).summary.get("strawberry/digest") == dig
    except Exception:
        return False


def export(runs: list[dict[str, Any]], *, project: str, folder: str, entity: Optional[str] = None, mode: Optional[str] = None,
           only: Optional[Iterable[str]] = None, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> list[Exported]:
    """Exports `runs` (all, or those in `only`) to W&B; returns what happened to each."""
    try:
        import wandb
    except ImportError:
        raise ExportError("the `wandb` package is not installed: pip install wandb")
    mode = resolve_mode(mode)
    wanted = set(only) if only is not None else None
    if wanted is not None and (missing := wanted - {r["id"] for r in runs}):
        raise ExportError(f"no run {', '.join(sorted(missing))} in the store; `strawberry runs list` shows them")
    os.makedirs(folder, exist_ok=True)
    ledger = Ledger(folder)
    dest = Ledger.destination(mode, entity, project)
    group_of = groups(runs)
    results = []
    for run in runs:
        if wanted is not None and run["id"] not in wanted:
            continue
        live = live_run(run)
        wid, dig = run_wandb_id(run, live), digest(run)
        if ledger.seen(dest, run["id"], dig) or (mode == "online" and _online_unchanged(wandb, entity, project, wid, dig)):
            results.append(Exported(run["id"], wid, "unchanged"))
            continue
        before = set(_offline_dirs(folder, wid))
        # A run streamed while training lives in the project it was streamed to.
        where = (live["project"], live.get("entity") or entity) if live else (project, entity)
        try:
            results.append(_export_one(wandb, run, live, wid, dig, group_of[run["id"]], project=where[0], entity=where[1], mode=mode, folder=folder))
        except Exception as e:
            # What W&B wrote for this run so far is incomplete: removed (this export made it), so that `wandb sync`
            # never uploads half a run; the runs exported before it stay exported.
            for d in set(_offline_dirs(folder, wid)) - before:
                shutil.rmtree(d, ignore_errors=True)
            raise ExportError(f"run {run['id']} could not be exported ({type(e).__name__}: {e}); the runs before it were") from e
        ledger.add(dest, run["id"], digest=dig, wandb_id=wid)
        log(f"{results[-1].action} {run['id']} → W&B run {wid} ({mode})")
    return results


def _export_one(wandb: Any, run: dict[str, Any], live: Optional[dict[str, Any]], wid: str, dig: str, group: str, *, project: str, entity: Optional[str],
                mode: str, folder: str) -> Exported:
    notes = []
    d = run_dir(run)
    for name in ("metrics.jsonl", "metrics.json", "items.jsonl", "config.yaml"):
        if d and os.path.isfile(os.path.join(d, name)) and run_file(run, name) is None:
            notes.append(f"{name} changed since the run was recorded: not exported (the store's metrics were)")
    wr = wandb.init(project=project, entity=entity, id=wid, name=run["id"], group=group, job_type=run.get("kind", "run"),
                    config=config_of(run), dir=folder, mode=mode, resume="allow" if mode == "online" else None,
                    reinit="finish_previous",
                    settings=wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True, save_code=False))
    try:
        last: dict[str, float] = {}
        rows_by_step = history(run)
        streamed = live is not None   # the steps are in W&B already: only the summary and the rest are added
        for step, vals in rows_by_step:
            if not streamed:
                wr.log(vals, step=step)
            last.update(vals)
        if streamed:
            notes.append("history streamed while training (report_to: wandb); this export added the summary and recipe")
        final = rows_by_step[-1][0] if rows_by_step and not streamed else 0
        media: dict[str, Any] = {}
        rows = item_rows(run) if run.get("kind") == "eval" else None
        if rows is not None:
            columns, data, total = rows
            media["items"] = wandb.Table(columns=columns, data=data, allow_mixed_types=True)
            if total > len(data):
                notes.append(f"items: the first {len(data)} of {total} rows (W&B's table limit)")
            wr.summary["items_rows"] = total
        for name, svg in charts(run).items():
            media[f"charts/{name}"] = wandb.Html(svg, inject=False)
        if media:
            if streamed:
                wr.log(media, step=max(0, int(live.get("last_step", 0))))   # at the last streamed step
            else:
                wr.log(media, step=final)
        if run.get("kind") == "train" and (rc := recipe(run)):
            backbone, h, _ = rc
            art = wandb.Artifact(f"recipe-{h}", type="architecture",
                                 description=f"The training recipe of {backbone} runs with config hash {h}",
                                 metadata={"backbone": backbone, "recipe_hash": h})
            # The recipe as the store recorded it (the resolved config, secret-looking keys left out), not the
            # config.yaml text: a key or token in that file must not travel with the artifact.
            with art.new_file("architecture.json", mode="w", encoding="utf-8") as f:
                json.dump({"backbone": backbone, "recipe_hash": h,
                           "params": {k: v for k, v in run.get("params", {}).items() if not SECRET.search(k)}}, f, indent=2, sort_keys=True)
            wr.log_artifact(art)
        for k, v in last.items():
            wr.summary[k] = v
        if (hub := hub_publication(run)) is not None:
            # The published folder on the Hub (`publish` recorded it beside the run).
            for k, v in hub.items():
                wr.summary[f"hub/{k}"] = v
        wr.summary["strawberry/digest"] = dig
        wr.summary["strawberry/run_id"] = run["id"]
        if notes:
            wr.summary["strawberry/notes"] = "; ".join(notes)
    finally:
        wr.finish()
    directory = _offline_dir(folder, wid) if mode == "offline" else None
    live_dir = os.path.join(d, "wandb") if live is not None and d else None
    return Exported(run["id"], wid, "exported", directory, notes, live_dir)

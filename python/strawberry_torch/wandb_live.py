"""`strawberry-torch wandb-live RUN_DIR`: a training run's steps streamed to Weights & Biases as they happen.

Both engines write the same `RUN_DIR/metrics.jsonl`, one line per logged step, so one follower serves
both: `report_to: wandb` in the training config makes `strawberry train` and `strawberry-torch train`
start it beside themselves, holding its standard input open; it logs each complete new line at its step
and, when the trainer closes that pipe (it finished, failed or was killed), logs what is left and
finishes the W&B run. The run's W&B id is kept in `RUN_DIR/wandb_run.json`, so a resumed training run
continues the same W&B run, and `strawberry-torch wandb-sync` later adds the summary, tables and recipe
artifact to it instead of making a second run (and `publish` names the Hub folder after it).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from typing import Any, Optional

from .wandb_export import ExportError, _json, metrics_row, resolve_mode, wandb_id

LIVE_FILE = "wandb_run.json"
PROJECT = re.compile(r"[A-Za-z0-9_.-]{1,128}")
LOG_FILE = "wandb-live.log"
#: What live tracking adds to a run directory (W&B's own folder, the id file, the follower's log): a trainer
#: starting afresh where an earlier attempt stopped before its first checkpoint accepts these beside its config and log.
RUN_DIR_ENTRIES = {"wandb", LIVE_FILE, LOG_FILE}


def read_live(run_dir: str) -> Optional[dict[str, Any]]:
    """RUN_DIR/wandb_run.json when it is one this tool wrote (a W&B id, a project, a mode), else None."""
    try:
        with open(os.path.join(run_dir, LIVE_FILE), "rb") as f:
            data = f.read(1 << 16)
        doc = _json(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("wandb_id"), str) and wandb_id(doc["wandb_id"]) == doc["wandb_id"] \
            and isinstance(doc.get("project"), str) and PROJECT.fullmatch(doc["project"]) \
            and (doc.get("entity") is None or (isinstance(doc["entity"], str) and PROJECT.fullmatch(doc["entity"]))) \
            and isinstance(doc.get("last_step", -1), int):
        return doc
    return None


def _write_live(run_dir: str, doc: dict[str, Any]) -> None:
    # The temporary file sits in W&B's folder, never loose in the run directory (a trainer restarting afresh
    # accepts only the names it knows there).
    scratch = os.path.join(run_dir, "wandb")
    os.makedirs(scratch, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".wandb_run-", dir=scratch)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, os.path.join(run_dir, LIVE_FILE))
    except BaseException:
        os.unlink(tmp)
        raise


class Follower:
    """Reads the complete lines appended to metrics.jsonl since the last call."""

    def __init__(self, path: str) -> None:
        self.path, self.offset, self.partial = path, 0, b""

    def new_rows(self) -> list[tuple[int, dict[str, float]]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(16 << 20)
        except OSError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()   # a line still being written
        rows = []
        for line in lines:
            if (row := metrics_row(line.decode("utf-8", errors="replace"))) is not None:
                rows.append(row)
        return rows


def follow(run_dir: str, *, project: str, entity: Optional[str] = None, mode: Optional[str] = None, poll: float = 1.0,
           resume: bool = False, stop: Optional[threading.Event] = None) -> dict[str, Any]:
    """Streams RUN_DIR/metrics.jsonl to W&B until `stop` is set (default: standard input closes). `resume`:
    the trainer continues the run, so its W&B run (RUN_DIR/wandb_run.json) continues too; a fresh run
    gets a new W&B run even where an earlier attempt left that file."""
    try:
        import wandb
    except ImportError:
        raise ExportError("the `wandb` package is not installed: pip install wandb")
    if not os.path.isdir(run_dir):
        raise ExportError(f"{run_dir} is not a run directory")
    mode = resolve_mode(mode)
    previous = read_live(run_dir) if resume else None
    # Steps already streamed are not sent again: a resumed run redoes the steps after its checkpoint, and W&B keeps
    # the first value it received for a step anyway.
    last = int(previous.get("last_step", -1)) if previous is not None else -1
    if previous is not None:
        wid, project, entity = previous["wandb_id"], previous["project"], previous.get("entity") or entity
    else:
        base = os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
        stamp = hashlib.sha256(f"{os.path.abspath(run_dir)}:{time.time_ns()}".encode()).hexdigest()[:8]
        wid = wandb_id(f"{base[:40]}-{stamp}")
    if stop is None:
        stop = threading.Event()
        import signal
        # Started by a trainer (standard input a pipe), the follower stops when that pipe closes: a Ctrl-C, which the
        # terminal sends to the trainer and to it alike, must not cut it before the trainer's last lines. SIGTERM
        # (a `kill` of the process group, a container stopping) ends it gracefully: what was written is logged.
        if not sys.stdin.isatty():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        def wait_for_eof() -> None:
            # os.read, not sys.stdin: a buffered reader's lock held by this thread at exit aborts the interpreter.
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            finally:
                stop.set()
        threading.Thread(target=wait_for_eof, daemon=True).start()
    cfg = None
    try:
        import yaml
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            cfg = yaml.safe_load(f.read(1 << 20))
    except Exception:   # the config is context, not required: a run is streamed without it
        cfg = None
    from .wandb_export import SECRET
    config = {k: v for k, v in cfg.items() if not SECRET.search(str(k))} if isinstance(cfg, dict) else {}
    # The group `wandb-sync` gives the run later: backbone and the hash of this config.yaml.
    from .wandb_export import recipe
    rc = recipe({"params": {"out": run_dir, "model": str(cfg.get("model", "model")) if isinstance(cfg, dict) else "model"}})
    wr = wandb.init(project=project, entity=entity, id=wid, name=os.path.basename(os.path.normpath(run_dir)), job_type="train",
                    config=config, group=f"backbone={rc[0]}_recipe={rc[1]}" if rc else None,
                    dir=run_dir, mode=mode, resume="allow" if mode == "online" else None, reinit="finish_previous",
                    settings=wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True, save_code=False))
    found = getattr(wr, "entity", None)
    doc = {"wandb_id": wid, "project": project, "entity": entity or (found if isinstance(found, str) and found else None), "mode": mode,
           "url": wr.url if mode == "online" else None, "finished": False, "last_step": last}
    _write_live(run_dir, doc)
    follower, first = Follower(os.path.join(run_dir, "metrics.jsonl")), last
    clean = False
    try:
        while True:
            stopping = stop.wait(poll)
            for step, vals in follower.new_rows():
                if step > first and step >= last:   # a step logged in two lines (training, then validation) merges
                    wr.log(vals, step=step)
                    last = step
            if stopping:
                break
        clean = True
    finally:
        wr.finish()
        # "finished" only when every line written before the trainer let go was logged: the export relies on it to
        # leave the steps out.
        doc["finished"], doc["last_step"] = clean, last
        _write_live(run_dir, doc)
    return doc


def start(run_dir: str, resume: bool):
    """Starts the follower beside this process (the PyTorch backend's trainer; the Swift trainer starts the
    same command): returns the process, whose standard input the caller closes when training ends."""
    import subprocess
    py_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (py_root, os.environ.get("PYTHONPATH", "")) if p))
    with open(os.path.join(run_dir, LOG_FILE), "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "strawberry_torch", "wandb-live", run_dir, *(["--resume"] if resume else [])],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env)


def stop_process(proc, timeout: float = 120) -> int:
    """Closes the follower's standard input (training is over) and waits for it to finish the W&B run; past
    `timeout`, asks it to stop (SIGTERM: it logs what it has and finishes), then kills it."""
    try:
        if proc.stdin:
            proc.stdin.close()
        return proc.wait(timeout=timeout)
    except Exception:
        proc.terminate()
        try:
            return proc.wait(timeout=15)
        except Exception:
            proc.kill()
            return -1

"""The files of a training run, written exactly as the Swift trainer writes them
(Sources/Records/TrainingRecords.swift, Sources/Training/Trainer.swift):

  RUN/config.yaml                       the resolved config
  RUN/metrics.jsonl                     one compact JSON object per logged step, keys sorted
  RUN/checkpoint-STEP/                  adapter_model.safetensors + adapter_config.json (PEFT),
                                        optimizer.safetensors (exp_avg, exp_avg_sq: float32 1-D in
                                        Strawberry's layout; metadata {"step": optimizer steps}),
                                        trainer_state.json
  RUN/best/, RUN/final/                 adapters

Every directory is written under a temporary sibling name (`.tmp-NAME-PID`, the name the Swift
trainer uses, so neither engine mistakes it for a checkpoint) and renamed into place.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional

import torch
from safetensors import safe_open
from safetensors.torch import save_file


class RecordError(ValueError):
    """A run file that cannot be read or does not fit this run; the message names the file."""


def json_line(rec: dict[str, Any]) -> str:
    """One compact, key-sorted JSON object (RecordFile.text)."""
    for k, v in rec.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise RecordError(f"cannot write {k} = {v} as JSON")
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_json(obj: Any, path: str) -> None:
    """A pretty JSON document ending in a newline, written atomically (RecordFile.write)."""
    write_text_atomically(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", path)


def write_text_atomically(text: str, path: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def append_line(line: str, path: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


# ---- metrics.jsonl -------------------------------------------------------------------------

def start_line(eval_loss: Optional[float], accuracy: Optional[float]) -> dict[str, Any]:
    """The step-0 line: only the starting evaluation."""
    return {"epoch": 0.0, "eval_loss": eval_loss, "eval_spelling_accuracy": accuracy, "step": 0}


def step_line(step: int, epoch: float, loss: float, grad_norm: float, learning_rate: float, tokens_per_second: float,
              eval_loss: Optional[float], accuracy: Optional[float], peak_memory_gib: Optional[float] = None) -> dict[str, Any]:
    """A TrainingLogLine; `peak_memory_gib` (a GPU's peak allocation so far) only where there is one."""
    line = {"epoch": epoch, "eval_loss": eval_loss, "eval_spelling_accuracy": accuracy, "grad_norm": grad_norm,
            "learning_rate": learning_rate, "loss": loss, "step": step, "tokens_per_second": tokens_per_second}
    if peak_memory_gib is not None:
        line["peak_memory_gib"] = peak_memory_gib
    return line


def parse_jsonl(text: str, path: str) -> list[Any]:
    """One JSON value per non-blank line; a bad line is a RecordError naming file and line."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise RecordError(f"{path}:{n}: {e}") from None
    return out


def read_metrics(path: str) -> list[dict[str, Any]]:
    """Every whole line of metrics.jsonl (a line cut by a kill mid-write is dropped)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return parse_jsonl(text, path)


def truncate_metrics(path: str, step: int) -> None:
    """On resume: keep only the lines of steps that will not be redone."""
    if os.path.isfile(path):
        kept = [r for r in read_metrics(path) if int(r.get("step", 0)) <= step]
        write_text_atomically("".join(json_line(r) + "\n" for r in kept), path)


# ---- checkpoints -------------------------------------------------------------------------

@dataclass
class TrainerState:
    global_step: int
    epoch: int
    batch_in_epoch: int
    max_steps: int
    seed: int
    best_eval_loss: Optional[float]
    optimizer_step: int

    @staticmethod
    def read(path: str) -> "TrainerState":
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            return TrainerState(global_step=int(d["global_step"]), epoch=int(d["epoch"]), batch_in_epoch=int(d["batch_in_epoch"]),
                                max_steps=int(d["max_steps"]), seed=int(d["seed"]), best_eval_loss=d.get("best_eval_loss"),
                                optimizer_step=int(d["optimizer_step"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RecordError(f"{path}: not a trainer_state.json ({e!r}); is this a checkpoint-STEP directory?") from None


def write_optimizer(path: str, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, step: int) -> None:
    save_file({"exp_avg": exp_avg.float().contiguous(), "exp_avg_sq": exp_avg_sq.float().contiguous()}, path, metadata={"step": str(step)})


def read_optimizer(path: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        with safe_open(path, framework="pt") as st:
            m, v = st.get_tensor("exp_avg").float().reshape(-1), st.get_tensor("exp_avg_sq").float().reshape(-1)
    except Exception as e:  # safetensors raises several types for a missing or corrupt file
        raise RecordError(f"{path}: cannot read the optimizer state ({e})") from None
    if m.numel() != count or v.numel() != count:
        raise RecordError(f"{path}: optimizer state has {m.numel()} values, the adapter {count}; resume with the configuration the run was started with.")
    return m, v


def staging(directory: str) -> str:
    """The temporary sibling of `directory` (Trainer.staging)."""
    parent, name = os.path.split(os.path.abspath(directory))
    return os.path.join(parent, f".tmp-{name}-{os.getpid()}")


def write_directory(directory: str, fill: Callable[[str], None]) -> None:
    """Fills a fresh temporary directory, then swaps it into place; a crash mid-write leaves the
    previous `directory` intact. Only this process's own temporary names are ever removed."""
    tmp = staging(directory)
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    fill(tmp)
    parent, name = os.path.split(os.path.abspath(directory))
    old = os.path.join(parent, f".old-{name}-{os.getpid()}")
    if os.path.exists(directory):
        os.rename(directory, old)
    try:
        os.rename(tmp, directory)
    except OSError:
        if not os.path.exists(directory) and os.path.exists(old):
            os.rename(old, directory)
        raise
    if os.path.exists(old):
        shutil.rmtree(old)


def checkpoint_steps(run: str) -> list[int]:
    steps = []
    for name in os.listdir(run) if os.path.isdir(run) else []:
        m = re.fullmatch(r"checkpoint-(\d+)", name)
        if m:
            steps.append(int(m.group(1)))
    return sorted(steps)


def rotate_checkpoints(run: str, keep: int, kept: frozenset[int] | set[int] = frozenset()) -> None:
    """save_total_limit: keep the newest `keep` checkpoints (0 keeps all); steps in `kept` (save_at) are never removed."""
    if keep > 0:
        for s in [s for s in checkpoint_steps(run) if s not in kept][:-keep]:
            shutil.rmtree(os.path.join(run, f"checkpoint-{s}"), ignore_errors=True)


def state_dict(state: TrainerState) -> dict[str, Any]:
    return asdict(state)

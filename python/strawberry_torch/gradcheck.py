"""`strawberry-torch gradcheck`: the loss and LoRA gradients of one fixed batch, written in the
same files as `strawberry gradcheck`, so a test can hold the two engines side by side:

  DIR/batch.json          {"ids", "labels", "loss" (mean CE per target), "targets", "modules"}
  DIR/grads.safetensors   d(mean loss)/d(factor), float32, PEFT key names
  DIR/adapter/            the adapter the gradients were taken at (PEFT format)

The batch is the first N training examples in file order (those with a target) as one
micro-batch, dropout off; the adapter is --adapter, else the seeded initialisation (B = 0).
"""
from __future__ import annotations

import json
import os
from typing import Optional

from safetensors.torch import save_file

from .config import TrainConfig
from .data import collate
from .records import write_directory
from .train import Options, Trainer, TrainingError, summed_loss


def gradient_check(config: TrainConfig, out: str, *, adapter: Optional[str] = None, examples: int = 4,
                   options: Optional[Options] = None) -> dict:
    if not 1 <= examples <= 4096:
        raise TrainingError(f"--examples must be in 1...4096, got {examples}")
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise TrainingError(f"{out} already exists and is not empty; give a new --out directory (nothing was changed).")
    if adapter is not None:
        config.init_adapter = adapter
    t = Trainer(config, options=options)
    chosen = t.train[:examples]
    batch = collate(chosen, t.pad_id)
    a = t.adapter
    a.set_dropout(0.0)
    a.model.eval()
    for p in a.parameters:
        p.grad = None
    loss = summed_loss(a.model, batch, t.loaded) / max(batch.targets, 1)
    loss.backward()
    record = {"ids": [e.ids for e in chosen], "labels": [e.labels for e in chosen], "loss": float(loss.item()),
              "targets": batch.targets, "modules": [m.path for m in a.modules]}
    grads = {}
    for m, (A, B) in zip(a.modules, a.pairs):
        grads[m.key_a] = A.grad.detach().float().cpu().contiguous()
        grads[m.key_b] = B.grad.detach().float().cpu().contiguous()
    def fill(tmp: str) -> None:
        with open(os.path.join(tmp, "batch.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2, sort_keys=True)
            f.write("\n")
        save_file(grads, os.path.join(tmp, "grads.safetensors"), metadata={"format": "pt"})
        a.save(os.path.join(tmp, "adapter"), config.model)
    write_directory(out, fill)   # `out` is new or empty (checked above)
    return record

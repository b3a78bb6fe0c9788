"""Learning-rate multipliers of transformers' schedulers, computed in float32 as
Sources/Training/AdamW.swift computes them (LRSchedule.factor), so the logged learning rate is
the very number the Swift trainer logs.
"""
from __future__ import annotations

import math

import numpy as np


def factor(schedule: str, step: int, warmup: int, total: int) -> float:
    """Multiplier at `step`, the optimizer steps done before this one (0 for the first update)."""
    if schedule != "constant" and step < warmup:
        return float(np.float32(step) / np.float32(max(1, warmup)))
    if schedule in ("constant", "constant_with_warmup"):
        return 1.0
    if schedule == "linear":
        return float(max(np.float32(0), np.float32(total - step) / np.float32(max(1, total - warmup))))
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return float(np.float32(max(0.0, 0.5 * (1 + math.cos(math.pi * progress)))))
    raise ValueError(f"unknown lr_scheduler '{schedule}'")


def learning_rate(base: float, schedule: str, step: int, warmup: int, total: int) -> float:
    """Float(learning_rate) · factor, both float32 (what the Swift optimizer uses and logs)."""
    return float(np.float32(base) * np.float32(factor(schedule, step, warmup, total)))

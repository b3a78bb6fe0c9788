"""Strawberry's seeded randomness, bit for bit (Sources/TensorCore/Random.swift).

SplitMix64 (Steele et al. 2014) drives every seeded choice the Swift tool makes: the epoch
batch order, the LoRA A initialisation and the `--limit` word sample. Porting it exactly is
what lets a run of this backend start from the same adapter and see the same batches as a run
of `strawberry train` with the same seed.
"""
from __future__ import annotations

from typing import MutableSequence, TypeVar

import numpy as np

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB

T = TypeVar("T")


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * _MUL1) & MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & MASK64
    return z ^ (z >> 31)


class SplitMix64:
    """The generator of Random.swift: `next()` adds the golden gamma to the state, then mixes."""

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + GAMMA) & MASK64
        return _mix(self.state)

    def uniform(self) -> float:
        """Uniform in [0, 1): the top 53 bits, as Swift's `Double(next() >> 11) * 0x1.0p-53`."""
        return (self.next() >> 11) * 2.0**-53

    def below(self, n: int) -> int:
        """Uniform in 0..<n by rejection (no modulo bias), exactly as Swift draws it."""
        if n <= 0:
            raise ValueError(f"below(n) needs n > 0, got {n}")
        limit = MASK64 - MASK64 % n
        while True:
            r = self.next()
            if r < limit:
                return r % n

    def uniforms(self, count: int) -> np.ndarray:
        """The next `count` values of `uniform()` as float64, vectorised (the k-th output of the
        stream is mix(state + k·gamma), so a block can be computed at once)."""
        k = np.arange(1, count + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = np.uint64(self.state) + k * np.uint64(GAMMA)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(_MUL1)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(_MUL2)
            z = z ^ (z >> np.uint64(31))
        self.state = (self.state + count * GAMMA) & MASK64
        return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def seeded_shuffle(items: MutableSequence[T], rng: SplitMix64) -> None:
    """Fisher–Yates from the back, as Swift's `seededShuffle`: the same seed, the same order."""
    for i in range(len(items) - 1, 0, -1):
        j = rng.below(i + 1)
        items[i], items[j] = items[j], items[i]


def fnv1a_seeded(word: str, seed: int) -> int:
    """Sampling.hash: FNV-1a over the UTF-8 bytes, then mixed with the seed by one SplitMix64 draw."""
    h = 0xCBF29CE484222325
    for b in word.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return SplitMix64(h ^ (seed & MASK64)).next()

"""Prompt/completion records → token ids with per-position targets, and the epoch batch order,
exactly as Sources/Training/TrainingData.swift makes them.

Labels are already shifted: labels[t] is the token at t+1 (or -100), so the loss is the
cross-entropy of logits[t] against labels[t] — never pass them as `labels=` to a Hugging Face
model, which would shift them a second time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Optional

import torch

from .rng import MASK64, SplitMix64, seeded_shuffle

IGNORE = -100


class DataError(ValueError):
    """A dataset that cannot be trained on; the message says what to build or fix."""


@dataclass(frozen=True)
class Example:
    ids: list[int]
    #: Target for each position (the next token), -100 where there is no loss.
    labels: list[int]
    completion: str
    prompt_ids: list[int]

    @property
    def targets(self) -> int:
        return sum(1 for t in self.labels if t >= 0)


def verify_dataset(directory: str) -> bool:
    """Checks every file a `strawberry data build` manifest lists against its SHA-256, as the Swift
    tool does before training or evaluating (a file copied to a GPU machine arrives whole or is
    refused). Returns False for a hand-made dataset without a manifest (used as it is)."""
    import hashlib
    path = os.path.join(directory, "manifest.json")
    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            files = json.load(f).get("files")
    except (ValueError, AttributeError) as e:
        raise DataError(f"{path}: not a dataset manifest ({e}); re-create the dataset with `strawberry data build`") from None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise DataError(f"{path}: 'files' must map each file to its SHA-256; re-create the dataset with `strawberry data build`")
    root = os.path.realpath(directory)
    for name, want in sorted(files.items()):
        full = os.path.realpath(os.path.join(directory, name))
        if not full.startswith(root + os.sep):
            raise DataError(f"{path}: lists '{name}', outside the dataset directory")
        if not os.path.isfile(full):
            raise DataError(f"{directory}/{name}: missing (the manifest lists it); copy the whole dataset directory")
        h = hashlib.sha256()
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != want:
            raise DataError(f"{directory}/{name}: SHA-256 differs from manifest.json (changed or cut short in transfer?); "
                            "copy it again or re-create the dataset (--no-verify skips this check)")
    return True


def read_pairs(path: str) -> list[tuple[str, str]]:
    """(prompt, completion) of every line of a JSONL file written by `strawberry data build`."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file; build a dataset with `strawberry data build` and point `data` at it")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                pairs.append((_text(rec, "prompt"), _text(rec, "completion")))
            except (ValueError, KeyError, TypeError) as e:
                raise DataError(f"{path}:{n}: {e}; each line needs string fields prompt and completion") from None
    return pairs


def _text(rec: dict[str, Any], key: str) -> str:
    v = rec[key]
    if not isinstance(v, str):
        raise TypeError(f"field '{key}' is not a string")
    return v


class ExampleEncoder:
    """ExampleEncoder of TrainingData.swift: the chat template's user turn plus generation prompt
    (for Qwen3 non-thinking mode that includes the empty think block), then the completion and
    the end-of-turn text, so the model learns to stop."""

    def __init__(self, tokenizer: Any, *, chat_template: bool, enable_thinking: Optional[bool], thinking_capable: bool,
                 train_on_prompt: bool, max_length: int, context_length: int) -> None:
        self.tokenizer = tokenizer
        self.use_template = chat_template and getattr(tokenizer, "chat_template", None) is not None
        # ChatML templates end a turn with <|im_end|>; otherwise the eos token's text ends it.
        if self.use_template and "<|im_end|>" in tokenizer.get_vocab():
            self.end_of_turn = "<|im_end|>"
        else:
            self.end_of_turn = tokenizer.eos_token or ""
        self.enable_thinking = enable_thinking if thinking_capable else None
        self.thinking_capable = thinking_capable
        self.train_on_prompt = train_on_prompt
        self.max_length = min(max_length, context_length)

    def encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_text(self, prompt: str) -> str:
        if not self.use_template:
            return prompt + "\n"
        kwargs: dict[str, Any] = {}
        # Only a thinking-capable template is told about thinking; None keeps its default.
        if self.thinking_capable and self.enable_thinking is not None:
            kwargs["enable_thinking"] = self.enable_thinking
        return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                  tokenize=False, **kwargs)

    def prompt_ids(self, prompt: str) -> list[int]:
        return self.encode_text(self.prompt_text(prompt))

    def encode(self, prompt: str, completion: str) -> Example:
        p = self.prompt_ids(prompt)
        ids = (p + self.encode_text(completion + self.end_of_turn))[: self.max_length]
        first_target = 1 if self.train_on_prompt else len(p)
        labels = [ids[t + 1] if t + 1 < len(ids) and t + 1 >= first_target else IGNORE for t in range(len(ids))]
        return Example(ids=ids, labels=labels, completion=completion, prompt_ids=p)


def epoch_batches(count: int, lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch (TrainingData.epochBatches): a seeded shuffle, then within windows
    of 50 batches examples sorted by (length, index), cut into batches, and the batches shuffled."""
    rng = SplitMix64((seed + epoch * 0x9E3779B9) & MASK64)
    order = list(range(count))
    seeded_shuffle(order, rng)
    batches: list[list[int]] = []
    window = batch_size * 50
    for start in range(0, count, window):
        chunk = sorted(order[start:start + window], key=lambda i: (lengths[i], i))
        batches.extend(chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size))
    seeded_shuffle(batches, rng)
    return batches


@dataclass
class Batch:
    """Right-padded tensors of one micro-batch. Swift stacks sequences without padding; right
    padding leaves every real position's logits unchanged under a causal mask."""
    input_ids: torch.Tensor       # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    labels: torch.Tensor          # [B, T], -100 on pads and non-targets
    targets: int
    tokens: int                   # real tokens (the sum of sequence lengths)


def collate(examples: list[Example], pad_id: int = 0) -> Batch:
    T = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), T), dtype=torch.long)
    labels = torch.full((len(examples), T), IGNORE, dtype=torch.long)
    for b, e in enumerate(examples):
        n = len(e.ids)
        ids[b, :n] = torch.tensor(e.ids)
        mask[b, :n] = 1
        labels[b, :n] = torch.tensor(e.labels)
    return Batch(ids, mask, labels, targets=sum(e.targets for e in examples), tokens=sum(len(e.ids) for e in examples))

"""Batched generation with a KV cache and LEFT padding, stopping rules as Strawberry's Generator
(Sources/Generation/Generator.swift): a request ends at a stop token (not kept), or when it has
`min(max_tokens, context − prompt length)` tokens (truncated); a prompt that fills the context
ends at once with no output, truncated.

Greedy decoding takes the first largest logit. Sampling (thinking mode) draws each request from
its own seeded torch.Generator, so results do not depend on how requests are batched.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_k: int
    top_p: float
    seed: int


@dataclass
class Request:
    prompt_ids: list[int]
    max_tokens: int
    sampling: Optional[Sampling] = None   # None: greedy


@dataclass
class Result:
    ids: list[int]
    #: Ended by a stop token (False: the budget or the context ran out — truncated).
    stopped: bool


def _pick(logits: torch.Tensor, sampling: Optional[Sampling], gen: Optional[torch.Generator]) -> int:
    if sampling is None or sampling.temperature <= 0:
        return int(torch.argmax(logits).item())
    x = logits.float() / sampling.temperature
    if 0 < sampling.top_k < x.numel():
        kth = torch.topk(x, sampling.top_k).values[-1]
        x = x.masked_fill(x < kth, float("-inf"))
    probs = torch.softmax(x, dim=-1)
    if sampling.top_p < 1:
        sorted_p, order = torch.sort(probs, descending=True)
        cum = torch.cumsum(sorted_p, dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (always the top token).
        drop = cum - sorted_p >= sampling.top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen).item())


def _cache_name(model: Any) -> str:
    """transformers 5.2x renamed `past_key_values` to `cache` (the old name still works, with a
    warning); older versions know only the old name."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def _cache_of(out: Any) -> Any:
    return getattr(out, "cache", None) if getattr(out, "cache", None) is not None else out.past_key_values


@torch.no_grad()
def generate(model: Any, requests: list[Request], *, stop_ids: set[int], context_length: int, batch_size: int,
             device: torch.device, autocast: Any, pad_id: int = 0,
             on_finish: Callable[[int, Result], None] = lambda i, r: None) -> list[Result]:
    """Results in request order. Requests are batched by prompt length (less padding)."""
    results: list[Optional[Result]] = [None] * len(requests)
    pending = []
    for i, r in enumerate(requests):
        if len(r.prompt_ids) >= context_length:
            results[i] = Result([], stopped=False)
            on_finish(i, results[i])
        elif not r.prompt_ids:
            raise ValueError("the prompt encodes to no tokens; give some text")
        else:
            pending.append(i)
    pending.sort(key=lambda i: len(requests[i].prompt_ids))
    for start in range(0, len(pending), batch_size):
        chunk = pending[start:start + batch_size]
        for i, res in zip(chunk, _generate_chunk(model, [requests[i] for i in chunk], stop_ids, context_length, device, autocast, pad_id)):
            results[i] = res
            on_finish(i, res)
    return [r for r in results if r is not None]


def _generate_chunk(model: Any, reqs: list[Request], stop_ids: set[int], context: int, device: torch.device,
                    autocast: Any, pad_id: int) -> list[Result]:
    B, L = len(reqs), max(len(r.prompt_ids) for r in reqs)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.long)
    for b, r in enumerate(reqs):
        ids[b, L - len(r.prompt_ids):] = torch.tensor(r.prompt_ids)
        mask[b, L - len(r.prompt_ids):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
    limits = [min(r.max_tokens, context - len(r.prompt_ids)) for r in reqs]
    gens = [torch.Generator().manual_seed(r.sampling.seed) if r.sampling else None for r in reqs]
    outs: list[list[int]] = [[] for _ in reqs]
    done: list[Optional[Result]] = [None] * B
    for b, lim in enumerate(limits):
        if lim <= 0:
            done[b] = Result([], stopped=False)
    with autocast:
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
    cache_kw = _cache_name(model)
    past, logits = _cache_of(out), out.logits[:, -1, :].float().cpu()
    last_pos = pos[:, -1].clone()
    while any(d is None for d in done):
        nxt = torch.full((B, 1), pad_id, dtype=torch.long)
        live = torch.zeros((B, 1), dtype=torch.long)
        for b in range(B):
            if done[b] is not None:
                continue
            tok = _pick(logits[b], reqs[b].sampling, gens[b])
            if tok in stop_ids:
                done[b] = Result(outs[b], stopped=True)
                continue
            outs[b].append(tok)
            if len(outs[b]) >= limits[b]:
                done[b] = Result(outs[b], stopped=False)
                continue
            nxt[b, 0], live[b, 0] = tok, 1
        if all(d is not None for d in done):
            break
        # Finished rows ride along as masked pads (their position held inside the context).
        last_pos = torch.where(live[:, 0].to(device) == 1, last_pos + 1, last_pos)
        mask = torch.cat([mask, live.to(device)], dim=1)
        with autocast:
            out = model(input_ids=nxt.to(device), attention_mask=mask, position_ids=last_pos[:, None],
                        use_cache=True, **{cache_kw: past})
        past, logits = _cache_of(out), out.logits[:, -1, :].float().cpu()
    return [d for d in done if d is not None]

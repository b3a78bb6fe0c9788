"""`strawberry-torch eval`: the dataset's questions through transformers (or vLLM), written as
generations for `strawberry score`, which re-reads the questions and scores them with
Strawberry's own answer extraction — one implementation of every metric.

Question choice, the `--limit` sample, prompts and token budgets are ports of
Sources/Evaluation/Evaluator.swift and Sampling.swift:

  DIR/generations.jsonl     {"id","mode","sample","output","truncated","output_tokens","prompt_tokens"}
  DIR/generation_info.json  the request (dataset, split, tasks, styles, modes, sampling) and timing
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .generate import Request, Result, Sampling, generate
from .records import RecordError, parse_jsonl, write_directory
from .rng import SplitMix64, fnv1a_seeded

TASKS = ("spelling", "count", "position")
STYLES = ("direct", "spell_first")
MODES = ("non-thinking", "thinking")
ANSWER_TYPES = {"spelling": "letters", "count": "number", "position": "letter"}
#: Qwen3's model-card sampling per mode (min_p 0 in both).
CARD_SAMPLING = {"thinking": {"temperature": 0.6, "top_p": 0.95, "top_k": 20},
                 "non-thinking": {"temperature": 0.7, "top_p": 0.8, "top_k": 20}}
#: `--sampling` (Swift's EvalSampling): auto samples thinking mode only, card both modes, greedy neither.
SAMPLINGS = ("auto", "card", "greedy")


def sampled(sampling: str, mode: str) -> bool:
    """Whether answers in `mode` are sampled (and so drawn `samples` times) under `--sampling`."""
    return sampling == "card" or (sampling == "auto" and mode == "thinking")
DEFAULT_WORDING = {
    "spelling": "Spell the word '{word}' letter by letter, separated by dashes.",
    "direct_suffix": " Answer with only the {answer_kind}.",
    "spell_first_suffix": " First spell the word letter by letter, then give the {answer_kind}.",
}


class EvaluationError(ValueError):
    """A request or dataset that cannot be evaluated; the message says what to give instead."""


@dataclass
class Item:
    id: str
    task: str
    answer_type: str
    style: str
    prompt: str
    gold: str
    word: Optional[str]


@dataclass
class EvalRequest:
    model: str
    data: str
    out: str
    adapter: Optional[str] = None
    split: str = "test"
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    styles: list[str] = field(default_factory=lambda: list(STYLES))
    modes: list[str] = field(default_factory=lambda: ["non-thinking"])
    limit: Optional[int] = None
    sample_seed: int = 0
    seed: int = 0
    samples: int = 1
    sampling: str = "auto"
    #: Check the dataset's files against its manifest's SHA-256s first.
    verify_data: bool = True
    batch_size: int = 32
    engine: str = "transformers"
    chat_template: bool = True
    device: str = "auto"
    precision: str = "auto"

    def validate(self) -> None:
        if not 1 <= self.batch_size <= 4096:
            raise EvaluationError(f"--batch-size must be in 1...4096, got {self.batch_size}")
        if not 1 <= self.samples <= 1000:
            raise EvaluationError(f"--samples must be in 1...1000, got {self.samples}")
        if self.sampling not in SAMPLINGS:
            raise EvaluationError(f"--sampling {self.sampling}: expected one of {', '.join(SAMPLINGS)}")
        for name, v in (("--seed", self.seed), ("--sample-seed", self.sample_seed)):
            if not 0 <= v < 2**64:
                raise EvaluationError(f"{name} must be in 0...2^64-1, got {v}")
        if self.limit is not None and not 1 <= self.limit < 2**63:
            raise EvaluationError(f"--limit must be in 1...2^63-1, got {self.limit}")
        for name, given, allowed in (("--tasks", self.tasks, TASKS), ("--styles", self.styles, STYLES), ("--modes", self.modes, MODES)):
            bad = [x for x in given if x not in allowed] + sorted({x for x in given if given.count(x) > 1})
            if not given or bad:
                raise EvaluationError(f"{name}: expected a comma-separated list of {', '.join(allowed)}, got {','.join(given) or 'nothing'}")
        if self.split not in ("test", "validation", "heldout_vocab"):
            raise EvaluationError(f"--split {self.split}: expected test, validation or heldout_vocab")
        if self.engine not in ("transformers", "vllm"):
            raise EvaluationError(f"--engine {self.engine}: expected transformers or vllm")


# ---- questions ---------------------------------------------------------------------------

def _read_jsonl(path: str) -> list[Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return parse_jsonl(text, path)
    except RecordError as e:
        raise EvaluationError(f"{e}; re-create the dataset with `strawberry data build`") from None


def _fields(rec: Any, path: str, line: int, **kinds: Any) -> dict[str, Any]:
    """The named fields of one JSONL record, each of the given type(s), or an error naming file, line and field."""
    if not isinstance(rec, dict):
        raise EvaluationError(f"{path}:{line}: expected a JSON object; re-create the dataset with `strawberry data build`")
    for name, kind in kinds.items():
        v = rec.get(name)
        if not isinstance(v, kind) or isinstance(v, bool):
            raise EvaluationError(f"{path}:{line}: field '{name}' is missing or not a {getattr(kind, '__name__', 'string')}; "
                                  "re-create the dataset with `strawberry data build`")
    return rec


def load_items(r: EvalRequest) -> list[Item]:
    """The questions of the split (Evaluator.loadItems), sampled to --limit words."""
    if not os.path.isdir(r.data):
        raise EvaluationError(f"{r.data}: no such dataset directory; build one with `strawberry data build`")
    if r.verify_data:
        from .data import DataError, verify_dataset
        try:
            verify_dataset(r.data)
        except DataError as e:
            raise EvaluationError(str(e)) from None
    if r.split == "heldout_vocab":
        return heldout_vocab_items(r)
    items = []
    for task in r.tasks:
        for style in r.styles:
            path = os.path.join(r.data, "eval", f"{task}_{style}_{r.split}.jsonl")
            if not os.path.isfile(path):
                raise EvaluationError(f"{path}: missing; is {r.data} a dataset made by `strawberry data build` with a {r.split} split?")
            questions = _read_jsonl(path)
            if not questions:
                raise EvaluationError(f"{path} holds no questions; is the dataset complete?")
            for n, q in enumerate(questions, 1):
                fields = _fields(q, path, n, id=str, prompt=str, answer=(str, int))
                word = q.get("word")
                items.append(Item(id=fields["id"], task=task, answer_type=ANSWER_TYPES[task], style=style, prompt=fields["prompt"],
                                  gold=str(fields["answer"]), word=word if isinstance(word, str) else None))
    if not items:
        raise EvaluationError(f"no evaluation items in {r.data} for split '{r.split}' (empty split?)")
    if r.limit is None:
        return items
    keep = set(sample_words(list({i.word or i.id for i in items}), r.limit, r.sample_seed))
    return [i for i in items if (i.word or i.id) in keep]


def heldout_vocab_items(r: EvalRequest) -> list[Item]:
    """Spelling questions on the held-out vocabulary tokens, worded by the dataset's manifest."""
    path = os.path.join(r.data, "heldout_vocab.jsonl")
    if not os.path.isfile(path):
        raise EvaluationError(f"{path}: missing; is {r.data} a dataset made by `strawberry data build`?")
    words = [_fields(rec, path, n, word=str)["word"] for n, rec in enumerate(_read_jsonl(path), 1)]
    if not words:
        raise EvaluationError(f"{path} has no words")
    wording = dict(DEFAULT_WORDING)
    manifest = os.path.join(r.data, "manifest.json")
    if os.path.isfile(manifest):
        try:
            with open(manifest, encoding="utf-8") as f:
                m = json.load(f)
        except ValueError as e:
            raise EvaluationError(f"{manifest}: not valid JSON ({e}); re-create the dataset with `strawberry data build`") from None
        q = ((m.get("config") if isinstance(m, dict) else None) or {}).get("questions") or {}
        if isinstance(q, dict):
            wording.update({k: v for k, v in q.items() if k in wording and isinstance(v, str)})
    if r.limit is not None:
        keep, seen, kept = set(sample_words(words, r.limit, r.sample_seed)), set(), []
        for w in words:
            if w in keep and w not in seen:
                seen.add(w)
                kept.append(w)
        words = kept
    items = []
    for style in r.styles:
        suffix = (wording["direct_suffix"] if style == "direct" else wording["spell_first_suffix"]).replace("{answer_kind}", "spelling")
        for i, w in enumerate(words):
            items.append(Item(id=f"heldout_vocab-spelling-{style}-{i}", task="spelling", answer_type="letters", style=style,
                              prompt=wording["spelling"].replace("{word}", w) + suffix, gold="-".join(w), word=w))
    return items


def sample_words(words: list[str], count: int, seed: int) -> list[str]:
    """Sampling.words: distinct words sorted by (length, first lower-case letter, seeded hash,
    word), cut into `count` equal zones, one word drawn at random from each."""
    def key(w: str) -> tuple:
        return (len(w), w.lower()[:1] or " ", fnv1a_seeded(w, seed), w)
    frame = sorted(set(words), key=key)
    if count >= len(frame):
        return frame
    if count <= 0:
        return []
    rng = SplitMix64(seed)
    out = []
    for k in range(count):
        lo, hi = k * len(frame) // count, (k + 1) * len(frame) // count
        out.append(frame[lo + rng.below(hi - lo)])
    return out


def budget(answer_type: str, style: str, mode: str) -> int:
    """New-token budget (Evaluator.budget)."""
    if mode == "thinking":
        return 768
    if style == "spell_first":
        return 96
    return {"letters": 48, "text": 64}.get(answer_type, 24)


# ---- generation --------------------------------------------------------------------------

@dataclass
class Job:
    item: Item
    mode: str
    sample: int
    request: Request


def build_jobs(items: list[Item], r: EvalRequest, tokenizer: Any, thinking_capable: bool) -> list[Job]:
    """Every generation in Swift's order: mode, then item, then sample."""
    use_template = r.chat_template and getattr(tokenizer, "chat_template", None) is not None
    jobs = []
    for mode in r.modes:
        samples = max(1, r.samples) if sampled(r.sampling, mode) else 1
        for i, item in enumerate(items):
            if use_template:
                kwargs = {"enable_thinking": mode == "thinking"} if thinking_capable else {}
                text = tokenizer.apply_chat_template([{"role": "user", "content": item.prompt}], add_generation_prompt=True,
                                                     tokenize=False, **kwargs)
            else:
                text = item.prompt + "\n"
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            for s in range(samples):
                sampling = (Sampling(seed=(r.seed + s * 100_003 + i) & ((1 << 64) - 1), **CARD_SAMPLING[mode])
                            if sampled(r.sampling, mode) else None)
                jobs.append(Job(item, mode, s, Request(ids, budget(item.answer_type, item.style, mode), sampling)))
    return jobs


def run_transformers(r: EvalRequest, jobs_for: Callable[[Any, bool], list[Job]], log: Callable[[str], None]) -> tuple[list[Job], list[Result], Any, str]:
    from . import lora, models
    loaded = models.load(r.model, device=r.device, precision=r.precision)
    model = loaded.model
    if r.adapter is not None:
        f = lora.read_adapter(r.adapter, lora.linear_layers(model), loaded.model_type)
        f.settings.dropout = 0.0
        a = lora.attach(loaded, f.settings, seed=0)
        a.load_values(f.tensors)
        model = a.model
    model.eval()
    jobs = jobs_for(loaded.tokenizer, loaded.thinking_capable)
    done = [0]
    t0 = time.perf_counter()
    def progress(i: int, res: Result) -> None:
        done[0] += 1
        if done[0] % max(1, len(jobs) // 10) == 0 or done[0] == len(jobs):
            el = time.perf_counter() - t0
            log(f"  {done[0]}/{len(jobs)} generated, {done[0] / el:.1f} questions/s")
    results = generate(model, [j.request for j in jobs], stop_ids=loaded.stop_token_ids(), context_length=loaded.context_length,
                       batch_size=r.batch_size, device=loaded.device, autocast=loaded.autocast,
                       pad_id=loaded.tokenizer.pad_token_id or 0, on_finish=progress)
    return jobs, results, loaded.tokenizer, models.engine_description(loaded)


def run_vllm(r: EvalRequest, jobs_for: Callable[[Any, bool], list[Job]], log: Callable[[str], None]) -> tuple[list[Job], list[Result], Any, str]:
    """The same requests through vLLM (untested here: no GPU). The text is decoded by the
    Hugging Face tokenizer with the same rule as the transformers path."""
    try:
        from vllm import LLM, SamplingParams  # type: ignore[import-not-found]
        from vllm.lora.request import LoRARequest  # type: ignore[import-not-found]
    except ImportError:
        raise EvaluationError("--engine vllm: vllm is not importable here (pip install 'strawberry-torch[vllm]' on a CUDA machine)") from None
    from . import lora, models
    tokenizer = models.load_tokenizer(r.model)
    llm_kwargs: dict[str, Any] = {"model": r.model, "seed": r.seed}
    lora_request = None
    if r.adapter is not None:
        cpath = os.path.join(r.adapter, "adapter_config.json")
        try:
            with open(cpath, encoding="utf-8") as f:
                rank = int(json.load(f)["r"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EvaluationError(f"{cpath}: not a LoRA adapter's adapter_config.json ({e!r})") from None
        llm_kwargs.update(enable_lora=True, max_lora_rank=max(8, rank))
        lora_request = LoRARequest("adapter", 1, os.path.abspath(r.adapter))
    llm = LLM(**llm_kwargs)
    config = llm.llm_engine.model_config.hf_config
    thinking = getattr(config, "model_type", "") in models.THINKING_MODEL_TYPES
    jobs = jobs_for(tokenizer, thinking)
    context = int(llm.llm_engine.model_config.max_model_len)
    stops = set()
    if tokenizer.eos_token_id is not None:
        stops.add(int(tokenizer.eos_token_id))
    eos = getattr(config, "eos_token_id", None)
    stops.update([eos] if isinstance(eos, int) else list(eos or []))
    if "<|im_end|>" in tokenizer.get_vocab():
        stops.add(tokenizer.get_vocab()["<|im_end|>"])
    params, prompts, index = [], [], []
    results: list[Optional[Result]] = [None] * len(jobs)
    for k, j in enumerate(jobs):
        room = min(j.request.max_tokens, context - len(j.request.prompt_ids))
        if room <= 0:
            results[k] = Result([], stopped=False)
            continue
        s = j.request.sampling
        params.append(SamplingParams(max_tokens=room, stop_token_ids=sorted(stops), temperature=0.0) if s is None else
                      SamplingParams(max_tokens=room, stop_token_ids=sorted(stops), temperature=s.temperature, top_p=s.top_p,
                                     top_k=s.top_k, min_p=0.0, seed=s.seed))
        prompts.append({"prompt_token_ids": j.request.prompt_ids})
        index.append(k)
    outs = llm.generate(prompts, params, lora_request=lora_request) if prompts else []
    for k, o in zip(index, outs):
        ids = list(o.outputs[0].token_ids)
        stopped = bool(ids) and ids[-1] in stops
        results[k] = Result(ids[:-1] if stopped else ids, stopped=stopped or o.outputs[0].finish_reason == "stop")
    return jobs, [x for x in results if x is not None], tokenizer, models.engine_description(None, engine="vllm")


def evaluate(r: EvalRequest, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)) -> str:
    """Generates every answer and writes the directory; returns its path."""
    r.validate()
    check_replaceable(r.out)
    items = load_items(r)
    if not items:
        raise EvaluationError(f"no evaluation items left after sampling (--limit {r.limit})")
    jobs_for = lambda tok, thinking: build_jobs(items, r, tok, thinking)  # noqa: E731
    log(f"evaluating {len(items)} questions × {'+'.join(r.modes)} on {r.model}" + (f" + {r.adapter}" if r.adapter else "")
        + f" ({r.engine}, batch {r.batch_size})")
    t0 = time.perf_counter()
    jobs, results, tokenizer, engine = (run_vllm if r.engine == "vllm" else run_transformers)(r, jobs_for, log)
    seconds = time.perf_counter() - t0
    lines = []
    for j, res in zip(jobs, results):
        lines.append(json.dumps({"id": j.item.id, "mode": j.mode, "sample": j.sample,
                                 "output": tokenizer.decode(res.ids, skip_special_tokens=True, clean_up_tokenization_spaces=False),
                                 "truncated": not res.stopped, "output_tokens": len(res.ids), "prompt_tokens": len(j.request.prompt_ids)},
                                sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    info = {"engine": engine, "model": r.model, "adapter": r.adapter, "data": r.data, "split": r.split, "tasks": r.tasks,
            "styles": r.styles, "modes": r.modes, "limit": r.limit, "sample_seed": r.sample_seed, "seed": r.seed, "samples": r.samples,
            "sampling": r.sampling,
            "batch_size": r.batch_size, "chat_template": r.chat_template, "seconds": seconds,
            "generated_tokens": sum(len(x.ids) for x in results)}
    def fill(tmp: str) -> None:
        with open(os.path.join(tmp, "generations.jsonl"), "w", encoding="utf-8") as f:
            f.write("".join(x + "\n" for x in lines))
        with open(os.path.join(tmp, "generation_info.json"), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, sort_keys=True, ensure_ascii=False)
            f.write("\n")
    check_replaceable(r.out)   # again: the directory may have changed during the generation
    write_directory(r.out, fill)
    log(f"{len(lines)} generations, {info['generated_tokens']} tokens in {seconds:.1f} s → {r.out}")
    return r.out


#: What an earlier `strawberry-torch eval` output may hold: its own two files, and the two that
#: `strawberry score` writes beside them. Anything else makes the directory the user's.
OWN_FILES = {"generations.jsonl", "generation_info.json", "items.jsonl", "metrics.json"}


def check_replaceable(out: str) -> None:
    """--out must be new, empty, or an earlier output of this command holding only its own files."""
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise EvaluationError(f"--out {out} is a file; give a new directory")
    present = set(os.listdir(out))
    if not present:
        return
    if "generation_info.json" not in present or not present <= OWN_FILES:
        foreign = sorted(present - OWN_FILES) or sorted(present)
        raise EvaluationError(f"--out {out} holds files this command did not write ({', '.join(foreign[:3])}); "
                              "give a new directory (nothing was changed)")


# ---- scoring by the Swift tool -----------------------------------------------------------

def find_strawberry(explicit: Optional[str] = None) -> Optional[str]:
    """--strawberry PATH, else $STRAWBERRY_BIN, else `strawberry` on PATH."""
    for how, cand in (("--strawberry", explicit), ("$STRAWBERRY_BIN", os.environ.get("STRAWBERRY_BIN"))):
        if cand:
            if not (os.path.isfile(cand) and os.access(cand, os.X_OK)):
                raise EvaluationError(f"{how} {cand} is not an executable file; give the strawberry binary (or leave it out to score later)")
            return cand
    return shutil.which("strawberry")


def has_subcommand(binary: str, name: str) -> bool:
    """Whether the binary knows `name` (an unknown subcommand prints the top-level help instead)."""
    try:
        p = subprocess.run([binary, name, "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and f"strawberry {name}" in p.stdout


def score(out: str, binary: Optional[str], log: Callable[[str], None]) -> int:
    """Runs `strawberry score OUT` when the binary has it; else says the command to run later."""
    cmd = f"strawberry score {out}"
    if binary is None:
        log(f"no strawberry binary found (--strawberry PATH or $STRAWBERRY_BIN); score later with: {cmd}")
        return 0
    if not has_subcommand(binary, "score"):
        log(f"{binary} has no `score` subcommand (an older build); score later with a newer one: {cmd}")
        return 0
    return subprocess.run([binary, "score", out]).returncode

"""`strawberry-torch`: a thin command line over the library — train, gradcheck, eval.

Engine choices (device, precision, gradient checkpointing, unsloth) are flags here, never
config keys, so one YAML file serves `strawberry train` and `strawberry-torch train`.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Optional, Sequence

from .config import ConfigError, TrainConfig

EPILOG = "Run directories, adapters and evaluations are the Swift tool's formats: `strawberry` reads them unchanged."


def _engine_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="Where to compute (default: cuda when available).")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="bf16 autocast on CUDA with float32 LoRA factors; CPU computes float32 (default: bf16 on CUDA if supported).")
    p.add_argument("--gradient-checkpointing", action="store_true", help="Recompute activations in the backward pass (less memory).")
    p.add_argument("--unsloth", action="store_true", help="Load and wrap the model with unsloth's FastLanguageModel (must be installed).")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="Skip checking the dataset's files against the SHA-256s in its manifest.json.")


def _config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML training config (the file `strawberry train` takes).")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="Override a config key, e.g. --set max_steps=50 --set lora.r=8 (repeatable).")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="strawberry-torch", description="Strawberry's PyTorch backend: the same configs, data and "
                                  "run records as the Swift tool, on transformers + PEFT (GPUs, multi-GPU).", epilog=EPILOG)
    sub = top.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="LoRA fine-tuning, writing the run directory `strawberry train` writes.",
                       description="Writes output_dir with config.yaml, metrics.jsonl, checkpoint-STEP/, best/ and final/. Ctrl-C saves "
                       "a checkpoint and exits; --resume continues a run of either engine. Multi-GPU: launch with torchrun or "
                       "`accelerate launch` (gradient_accumulation_steps ≥ processes).")
    _config_flags(t)
    t.add_argument("--resume", help="Resume from a run directory (its newest checkpoint) or a checkpoint directory.")
    _engine_flags(t)

    g = sub.add_parser("gradcheck", help="Loss and LoRA gradients of one fixed batch (compare with `strawberry gradcheck`).")
    _config_flags(g)
    g.add_argument("--adapter", help="A PEFT adapter to take the gradients at (default: the seeded initialisation, B = 0).")
    g.add_argument("--examples", type=int, default=4, help="Training examples in the batch, in file order (default 4).")
    g.add_argument("--out", required=True, help="Output directory (new).")
    _engine_flags(g)

    e = sub.add_parser("eval", help="Generate answers to the dataset's questions; `strawberry score` scores them.")
    e.add_argument("--model", required=True, help="A Hugging Face model directory or a .gguf file.")
    e.add_argument("--adapter", help="A PEFT LoRA adapter directory.")
    e.add_argument("--data", required=True, help="Dataset directory made by `strawberry data build`.")
    e.add_argument("--split", default="test", choices=["test", "validation", "heldout_vocab"])
    e.add_argument("--tasks", default="spelling,count,position", help="Comma-separated: spelling,count,position.")
    e.add_argument("--styles", default="direct,spell_first", help="Comma-separated: direct,spell_first.")
    e.add_argument("--modes", "--mode", dest="modes", default="non-thinking",
                   help="Comma-separated: non-thinking,thinking (or both).")
    e.add_argument("--limit", type=int, help="A seeded sample of N words (the same words for every task and style).")
    e.add_argument("--sample-seed", type=int, default=0, help="Seed of the --limit sample.")
    e.add_argument("--seed", type=int, default=0, help="Seed of thinking-mode sampling.")
    e.add_argument("--samples", type=int, default=1, help="Samples per question in sampled modes (1...1000).")
    e.add_argument("--sampling", choices=["auto", "card", "greedy"], default="auto",
                   help="auto: greedy, except Qwen3's thinking mode, sampled as its model card says; card: the card's sampling in "
                        "both modes (non-thinking T 0.7, top-p 0.8, top-k 20); greedy: greedy in both (as `strawberry eval --sampling`).")
    e.add_argument("--batch-size", type=int, default=32, help="Sequences generated together.")
    e.add_argument("--engine", choices=["transformers", "vllm"], default="transformers")
    e.add_argument("--no-chat-template", dest="chat_template", action="store_false", help="Questions as plain text + newline.")
    e.add_argument("--no-verify", dest="verify", action="store_false",
                   help="Skip checking the dataset's files against the SHA-256s in its manifest.json.")
    e.add_argument("--strawberry", help="The strawberry binary for scoring (default: $STRAWBERRY_BIN, else PATH).")
    e.add_argument("--out", required=True, help="Output directory.")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")

    w = sub.add_parser("wandb-sync", help="Export the runs of a Strawberry store to Weights & Biases (offline first).",
                       description="Each run of the store becomes a W&B run with the same id: config, metric history with its steps, "
                       "summary (intervals as _low/_high keys), per-item evaluation tables, charts, and a training run's recipe "
                       "as an `architecture` artifact. Offline unless W&B credentials are configured (or WANDB_MODE says so); "
                       "exporting again adds nothing for runs already exported.")
    w.add_argument("store", help="The store directory (`strawberry --store`, $STRAWBERRY_HOME or ~/.strawberry).")
    w.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="Only these runs (default: every run).")
    w.add_argument("--project", default=os.environ.get("WANDB_PROJECT", "strawberry"), help="W&B project (default $WANDB_PROJECT or strawberry).")
    w.add_argument("--entity", default=os.environ.get("WANDB_ENTITY"), help="W&B entity (team or user; default $WANDB_ENTITY or yours).")
    w.add_argument("--mode", choices=["online", "offline"], help="Default: $WANDB_MODE, else online with credentials and offline without.")
    w.add_argument("--dir", default=os.environ.get("WANDB_DIR"), help="Where W&B keeps its files and the export ledger (default $WANDB_DIR, else STORE/wandb-export).")
    w.add_argument("--strawberry", help="The strawberry binary that reads the store (default: $STRAWBERRY_BIN, else PATH).")

    lv = sub.add_parser("wandb-live", help="Stream a training run's metrics.jsonl to W&B while it trains (report_to: wandb starts it).",
                        description="Logs each complete new line of RUN_DIR/metrics.jsonl at its step until standard input closes "
                        "(the trainer that started it finished or died), then finishes the W&B run. Keeps the W&B id in "
                        "RUN_DIR/wandb_run.json and W&B's files in RUN_DIR/wandb/.")
    lv.add_argument("run_dir", help="The training run's output_dir.")
    lv.add_argument("--resume", action="store_true", help="The trainer resumes the run: continue its W&B run (wandb_run.json).")
    lv.add_argument("--project", default=os.environ.get("WANDB_PROJECT", "strawberry"), help="W&B project (default $WANDB_PROJECT or strawberry).")
    lv.add_argument("--entity", default=os.environ.get("WANDB_ENTITY"), help="W&B entity (default $WANDB_ENTITY or yours).")
    lv.add_argument("--mode", choices=["online", "offline"], help="Default: $WANDB_MODE, else online with credentials and offline without.")
    lv.add_argument("--poll", type=float, default=1.0, help="Seconds between reads of metrics.jsonl (default 1).")
    return top


def _run_dir_of(resume: str) -> str:
    """--resume takes a run directory or one of its checkpoints; the run continues where it is."""
    if os.path.isfile(os.path.join(resume, "trainer_state.json")):
        return os.path.dirname(os.path.normpath(resume)) or "."
    return resume


def _train(a: argparse.Namespace) -> int:
    from .train import Options, Trainer
    cfg_path: Optional[str] = a.config
    if a.resume is not None:
        run = _run_dir_of(a.resume)
        if not os.path.isdir(run):
            raise ConfigError(f"{a.resume} has no checkpoint-*/ to resume from; give the run directory of an interrupted run.")
        if cfg_path is None and os.path.isfile(os.path.join(run, "config.yaml")):
            cfg_path = os.path.join(run, "config.yaml")
        cfg = TrainConfig.resolve(cfg_path, a.overrides)
        cfg.output_dir = run
    else:
        cfg = TrainConfig.resolve(cfg_path, a.overrides)
    opts = Options(device=a.device, precision=a.precision, gradient_checkpointing=a.gradient_checkpointing, unsloth=a.unsloth,
                   verify_data=a.verify)
    trainer = Trainer(cfg, resume=a.resume, options=opts)
    try:
        return trainer.run()
    finally:
        trainer.close()


def _gradcheck(a: argparse.Namespace) -> int:
    from .gradcheck import gradient_check
    from .train import Options
    cfg = TrainConfig.resolve(a.config, a.overrides)
    opts = Options(device=a.device, precision=a.precision, gradient_checkpointing=a.gradient_checkpointing, unsloth=a.unsloth,
                   verify_data=a.verify)
    rec = gradient_check(cfg, a.out, adapter=a.adapter, examples=a.examples, options=opts)
    print(f"loss {rec['loss']:.6f} over {rec['targets']} targets in {len(rec['ids'])} sequences; "
          f"{len(rec['modules'])} LoRA modules; written to {a.out}")
    return 0


def _eval(a: argparse.Namespace) -> int:
    from .evaluate import EvalRequest, evaluate, find_strawberry, score
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    modes = ["non-thinking", "thinking"] if a.modes == "both" else split(a.modes)
    r = EvalRequest(model=a.model, data=a.data, out=a.out, adapter=a.adapter, split=a.split, tasks=split(a.tasks), styles=split(a.styles),
                    modes=modes, limit=a.limit, sample_seed=a.sample_seed, seed=a.seed, samples=a.samples, sampling=a.sampling, batch_size=a.batch_size,
                    engine=a.engine, chat_template=a.chat_template, verify_data=a.verify, device=a.device, precision=a.precision)
    binary = find_strawberry(a.strawberry)   # a named binary that is not there fails before any generation
    out = evaluate(r)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    return score(out, binary, log)


def _wandb_sync(a: argparse.Namespace) -> int:
    from .wandb_export import export, resolve_mode, store_runs, strawberry_binary
    if not os.path.isdir(a.store):
        raise ConfigError(f"{a.store} is not a directory; give the store's directory (the one holding registry.sqlite)")
    folder = a.dir or os.path.join(a.store, "wandb-export")
    mode = resolve_mode(a.mode)
    runs = store_runs(strawberry_binary(a.strawberry), a.store)
    done = export(runs, project=a.project, entity=a.entity, mode=mode, folder=folder, only=a.run_ids or None)
    exported = [d for d in done if d.action == "exported"]
    print(f"{len(exported)} exported, {len(done) - len(exported)} unchanged ({mode}; W&B files in {folder})")
    for d in done:
        print(f"  {d.action:9} {d.run_id}" + (f"  {d.directory}" if d.directory else "") + "".join(f"  ({n})" for n in d.notes))
    if mode == "offline" and exported:
        print("upload them when W&B is reachable (with WANDB_API_KEY set or after `wandb login`):")
        print(f"  wandb sync --include-offline {os.path.join(folder, 'wandb', 'offline-run-*')}")
        for d in done:
            if d.streamed:   # the steps streamed while training sit in the run's own folder
                print(f"  wandb sync --include-offline {os.path.join(d.streamed, 'offline-run-*')}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parser().parse_args(argv)
    # transformers/PEFT deprecation notices about their own internals are noise to a user.
    warnings.filterwarnings("ignore", category=FutureWarning)
    if a.command in ("wandb-sync", "wandb-live"):   # need only wandb: neither torch nor transformers
        from .wandb_export import ExportError
        try:
            if a.command == "wandb-live":
                from .wandb_live import follow
                doc = follow(a.run_dir, project=a.project, entity=a.entity, mode=a.mode, poll=max(0.05, a.poll), resume=a.resume)
                print(f"W&B run {doc['wandb_id']} ({doc['mode']})" + (f": {doc['url']}" if doc.get("url") else ""), file=sys.stderr)
                return 0
            return _wandb_sync(a)
        except (ConfigError, ExportError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    from .data import DataError
    from .evaluate import EvaluationError
    from .lora import AdapterError
    from .models import ModelLoadError
    from .records import RecordError
    from .train import TrainingError
    try:
        return {"train": _train, "gradcheck": _gradcheck, "eval": _eval}[a.command](a)
    except (ConfigError, AdapterError, DataError, EvaluationError, ModelLoadError, RecordError, TrainingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The training loop of Sources/Training/Trainer.swift on transformers + PEFT: the same batches
from the same seed, the same loss normalisation (summed cross-entropy over the step's targets /
their count), clipping, AdamW with transformers' schedules, evaluation, logging, checkpoints that
either engine resumes, and a clean stop on SIGINT/SIGTERM.

Data parallel (torchrun / accelerate launch, WORLD_SIZE > 1): every rank builds the same batch
order and rank k takes micro-batches k, k+W, … of each step; losses are scaled by the step's
global target count and LoRA gradients summed across ranks before clipping, so a W-process step
is the 1-process step. Only rank 0 evaluates and writes files.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from . import records
from .config import ConfigError, TrainConfig
from .data import Batch, DataError, Example, ExampleEncoder, IGNORE, collate, epoch_batches, read_pairs, verify_dataset
from .generate import Request, generate
from .lora import Adapter, attach, check_same_layout, read_adapter, start_from
from .models import LoadedModel, load
from .schedule import learning_rate


class TrainingError(RuntimeError):
    """What stops a run; the message says what to change."""


@dataclass
class Options:
    """Engine choices that are flags, never config keys (configs stay shared with Swift)."""
    device: str = "auto"
    precision: str = "auto"
    gradient_checkpointing: bool = False
    unsloth: bool = False
    #: Check the dataset's files against its manifest's SHA-256s first (`--no-verify` turns it off).
    verify_data: bool = True
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)


@dataclass
class Distributed:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @staticmethod
    def from_env() -> "Distributed":
        return Distributed(int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0


def summed_loss(model: Any, batch: Batch, loaded: LoadedModel) -> torch.Tensor:
    """Σ cross-entropy of logits[t] against labels[t] (already shifted: never `labels=` to HF)."""
    dev = loaded.device
    with loaded.autocast:
        logits = model(input_ids=batch.input_ids.to(dev), attention_mask=batch.attention_mask.to(dev)).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch.labels.to(dev).reshape(-1),
                           ignore_index=IGNORE, reduction="sum")


class Trainer:
    def __init__(self, config: TrainConfig, resume: Optional[str] = None, options: Optional[Options] = None) -> None:
        self.options = options or Options()
        self.log = self.options.log
        config.validate()
        self.config = config
        self.dist = Distributed.from_env()
        if not self.dist.main:
            self.log = lambda s: None   # one voice: rank 0 reports for the group
        if self.dist.world > 1:
            self._init_distributed()
        if self.options.verify_data and not verify_dataset(config.data):
            self.log(f"note: {config.data} has no manifest.json; its files are used as they are, unverified")
        self.loaded = load(config.model, device=self.options.device, precision=self.options.precision,
                           gradient_checkpointing=self.options.gradient_checkpointing, unsloth=self.options.unsloth,
                           local_rank=self.dist.local_rank)
        self.encoder = ExampleEncoder(self.loaded.tokenizer, chat_template=config.chat_template, enable_thinking=config.enable_thinking,
                                      thinking_capable=self.loaded.thinking_capable, train_on_prompt=config.train_on_prompt,
                                      max_length=config.max_length, context_length=self.loaded.context_length)
        self.adapter: Adapter = attach(self.loaded, config.lora, config.seed, unsloth=self.options.unsloth)
        self._quiet_base_dropout()
        self.pad_id = self.loaded.tokenizer.pad_token_id or 0
        all_train = [self.encoder.encode(p, c) for p, c in read_pairs(os.path.join(config.data, "train.jsonl"))]
        self.train = [e for e in all_train if e.targets > 0]
        valid = [self.encoder.encode(p, c) for p, c in read_pairs(os.path.join(config.data, "validation.jsonl"))]
        self.validation = [e for e in valid if e.targets > 0][: max(config.eval_samples, config.generation_check_samples)]
        if not all_train:
            raise DataError(f"{config.data}/train.jsonl holds no examples; build a dataset with `strawberry data build` and point `data` at it.")
        if not self.train:
            raise DataError(f"{config.data}/train.jsonl has no example whose completion fits in max_length {self.encoder.max_length}; "
                            "raise max_length or check chat_template.")
        if len(all_train) > len(self.train):
            self.log(f"dropped {len(all_train) - len(self.train)} training examples longer than max_length {self.encoder.max_length}")
        self.optimizer = torch.optim.AdamW(self.adapter.parameters, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
                                           eps=config.adam_epsilon, weight_decay=config.weight_decay)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_eval_loss: Optional[float] = None
        self._order: list[list[int]] = []
        self._order_for = -1
        self._signal = 0
        if resume is not None:
            self.restore(resume)
        elif config.init_adapter is not None:
            start_from(self.adapter, config.init_adapter)
            self.log(f"starting from the adapter in {config.init_adapter}")

    # ---- set-up ------------------------------------------------------------------------------

    def _init_distributed(self) -> None:
        import torch.distributed as dist
        if self.config.gradient_accumulation_steps < self.dist.world:
            raise ConfigError(f"config gradient_accumulation_steps = {self.config.gradient_accumulation_steps}: expected at least the "
                              f"world size {self.dist.world} (each process takes whole micro-batches of a step)")
        if not dist.is_initialized():
            backend = "nccl" if self.options.device != "cpu" and torch.cuda.is_available() else "gloo"
            # Rank 0 evaluates alone while the others wait in the next all-reduce: allow it time.
            dist.init_process_group(backend=backend, timeout=timedelta(hours=2))

    def _quiet_base_dropout(self) -> None:
        """Strawberry's model has no dropout but LoRA's; the base model's (GPT-2: 0.1) is set to 0,
        so train mode (needed by gradient checkpointing) changes nothing but LoRA dropout."""
        lora_dropouts = {id(m) for n, m in self.adapter.model.named_modules() if "lora_dropout" in n}
        for m in self.adapter.model.modules():
            if isinstance(m, torch.nn.Dropout) and id(m) not in lora_dropouts:
                m.p = 0.0
            if isinstance(getattr(m, "attention_dropout", None), float):
                m.attention_dropout = 0.0

    # ---- batches -----------------------------------------------------------------------------

    @property
    def batches_per_epoch(self) -> int:
        return (len(self.train) + self.config.batch_size - 1) // self.config.batch_size

    @property
    def total_steps(self) -> int:
        c = self.config
        return c.max_steps if c.max_steps > 0 else math.ceil(self.batches_per_epoch * c.num_epochs / c.gradient_accumulation_steps)

    def next_batch(self) -> list[Example]:
        if self.batch_in_epoch >= self.batches_per_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0
        if self._order_for != self.epoch:
            self._order = epoch_batches(len(self.train), [len(e.ids) for e in self.train], self.config.batch_size, self.config.seed, self.epoch)
            self._order_for = self.epoch
        idx = self._order[self.batch_in_epoch]
        self.batch_in_epoch += 1
        return [self.train[i] for i in idx]

    def dropout_seed(self, k: int) -> int:
        """Seeds micro-batch k's dropout masks from the seed and the step (so a resume redraws them)."""
        return (self.config.seed * 0x100000001B3 + self.step * 31 + k) & ((1 << 64) - 1)

    # ---- one optimizer step ------------------------------------------------------------------

    def optimizer_step(self, micro: list[list[Example]], lr: float) -> tuple[float, float, int]:
        """(mean loss per target, pre-clip gradient norm, tokens) of one step over `micro`."""
        n = max(1, sum(e.targets for mb in micro for e in mb))
        model = self.adapter.model
        model.train()
        self.optimizer.zero_grad(set_to_none=False)
        params = self.adapter.parameters
        # Summed on the device in float64 and read once per step: an .item() per micro-batch would
        # stall a GPU on every one of them.
        loss_sum = torch.zeros((), dtype=torch.float64, device=params[0].device)
        for k in range(self.dist.rank, len(micro), self.dist.world):
            torch.manual_seed(self.dropout_seed(k))
            loss = summed_loss(model, collate(micro[k], self.pad_id), self.loaded) / n
            loss.backward()
            loss_sum += loss.detach().double()
        if self.dist.world > 1:
            self._all_reduce_grads(loss_sum)
        norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.optimizer.step()
        model.eval()
        return float(loss_sum), float(norm), sum(len(e.ids) for mb in micro for e in mb)

    def _all_reduce_grads(self, loss_sum: torch.Tensor) -> None:
        """Sums every rank's LoRA gradients and its share of the loss (float64, in place)."""
        import torch.distributed as dist
        params = self.adapter.parameters
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        k = 0
        for p in params:
            p.grad.copy_(flat[k:k + p.numel()].reshape(p.shape))
            k += p.numel()
        dist.all_reduce(loss_sum, op=dist.ReduceOp.SUM)

    # ---- evaluation --------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> tuple[Optional[float], Optional[float]]:
        """Validation loss over the first eval_samples examples and greedy exact-match on the first
        generation_check_samples prompts (dropout off)."""
        c, model = self.config, self.adapter.model
        model.eval()
        loss = None
        eval_set = self.validation[: c.eval_samples]
        if eval_set:
            total, n = 0.0, 0
            for s in range(0, len(eval_set), c.batch_size):
                part = eval_set[s:s + c.batch_size]
                b = collate(part, self.pad_id)
                total += float(summed_loss(model, b, self.loaded).item())
                n += b.targets
            loss = total / max(n, 1)
        acc = None
        ctx = self.loaded.context_length
        checks = [e for e in self.validation[: c.generation_check_samples] if len(e.ids) + 4 <= ctx]
        if checks:
            reqs = [Request(e.prompt_ids, len(e.ids) - len(e.prompt_ids) + 4) for e in checks]
            res = generate(model, reqs, stop_ids=self.loaded.stop_token_ids(), context_length=ctx, batch_size=max(len(reqs), 1),
                           device=self.loaded.device, autocast=self.loaded.autocast, pad_id=self.pad_id)
            tok = self.loaded.tokenizer
            hits = sum(1 for r, e in zip(res, checks)
                       if tok.decode(r.ids, skip_special_tokens=True).strip() == e.completion.strip())
            acc = hits / len(checks)
        return loss, acc

    # ---- the run -----------------------------------------------------------------------------

    def run(self, should_stop: Callable[[int], bool] = lambda step: False) -> int:
        """Trains to the end (or a signal). Returns 0, or 128 + the signal when interrupted."""
        c, run, main = self.config, self.config.output_dir, self.dist.main
        metrics = os.path.join(run, "metrics.jsonl")
        live = None
        if main:
            self._prepare_run_dir(run, metrics)
            live = self._start_live_tracking(run)
        try:
            return self._run(run, metrics, main, should_stop)
        finally:
            if live is not None:
                from .wandb_live import stop_process
                stop_process(live)

    def _start_live_tracking(self, run: str):
        """`report_to: wandb`: the follower that streams metrics.jsonl (the Swift trainer starts the same one)."""
        if "wandb" not in (self.config.report_to or []):
            return None
        try:
            import wandb  # noqa: F401
        except ImportError:
            self.log("warning: report_to: wandb, but the wandb package is not installed (pip install wandb): steps are not "
                     "streamed; export the run afterwards with strawberry-torch wandb-sync")
            return None
        from .wandb_live import start
        try:
            return start(run, resume=self.step > 0)
        except OSError as e:   # tracking is a courtesy: training goes on without it
            self.log(f"warning: report_to: wandb: the follower did not start ({e}); steps are not streamed")
            return None

    def _run(self, run: str, metrics: str, main: bool, should_stop: Callable[[int], bool]) -> int:
        c = self.config
        self._install_signals()
        total = self.total_steps
        self.log(f"training {self.loaded.model_type} {c.model}: {len(self.adapter.modules)} LoRA modules, "
                 f"{self.adapter.parameter_count} trainable parameters, {len(self.train)} examples, {total} steps"
                 + (f", {self.dist.world} processes" if self.dist.world > 1 else ""))
        if self.step == 0 and c.eval_steps > 0 and main:
            # The starting point (B = 0: the base model), so the curve shows what training changed.
            l, a = self.evaluate()
            records.append_line(records.json_line(records.start_line(l, a)), metrics)
            self.log(f"step 0: eval_loss {_fmt(l)}, spelling exact-match {_pct(a)}")
        window, interrupted = _Window(), False
        try:
            while self.step < total:
                lr, norm = self._train_step(total, window)
                evaluate = c.eval_steps > 0 and (self.step % c.eval_steps == 0 or self.step == total)
                ev = self._evaluate_and_keep_best(run) if evaluate and main else (None, None)
                if self.step % max(c.logging_steps, 1) == 0 or evaluate or self.step == total:
                    if main:
                        self._log_line(metrics, window, norm, lr, ev, total)
                    window = _Window()
                if self._stop_requested(should_stop):
                    interrupted = self.step < total
                    self._save_checkpoint(run)
                    if interrupted:
                        self.log(f"stopped at step {self.step}; resume with --resume {run}")
                        break
                elif (c.save_steps > 0 and self.step % c.save_steps == 0) or self.step in (c.save_at or []):
                    self._save_checkpoint(run)
        finally:
            self._restore_signals()
        if interrupted:
            return 128 + (self._signal or signal.SIGINT)
        if main:
            self._save_adapter(os.path.join(run, "final"))
            best = f"; best validation loss {self.best_eval_loss:.4f} ({run}/best)" if self.best_eval_loss is not None else ""
            self.log(f"adapter: {run}/final{best}")
        return 0

    def _train_step(self, total: int, window: "_Window") -> tuple[float, float]:
        """One optimizer step at the schedule's rate; (learning rate, gradient norm)."""
        c = self.config
        t0 = time.perf_counter()
        micro = [self.next_batch() for _ in range(c.gradient_accumulation_steps)]
        lr = learning_rate(c.learning_rate, c.lr_scheduler, self.step, c.warmup_steps, total)
        loss, norm, tokens = self.optimizer_step(micro, lr)
        # A NaN/inf loss poisons every factor through AdamW: stop before anything is saved from it.
        if not math.isfinite(loss) or not all(torch.isfinite(p).all() for p in self.adapter.parameters):
            raise TrainingError(f"training diverged at step {self.step + 1} (loss {loss}); nothing was saved from this step. "
                                "Lower learning_rate or check adam_beta1/adam_beta2.")
        self.step += 1
        window.add(loss, tokens, time.perf_counter() - t0)
        return lr, norm

    def _evaluate_and_keep_best(self, run: str) -> tuple[Optional[float], Optional[float]]:
        loss, acc = self.evaluate()
        if loss is not None and loss < (self.best_eval_loss if self.best_eval_loss is not None else math.inf):
            self.best_eval_loss = loss
            self._save_adapter(os.path.join(run, "best"))
        self.log(f"step {self.step}: eval_loss {_fmt(loss)}, spelling exact-match {_pct(acc)}")
        return loss, acc

    def _log_line(self, metrics: str, window: "_Window", norm: float, lr: float, ev: tuple[Optional[float], Optional[float]],
                  total: int) -> None:
        epoch = self.epoch + self.batch_in_epoch / self.batches_per_epoch
        # The peak the CUDA caching allocator has handed out, to set beside `strawberry plan`'s estimate.
        peak = None
        if torch.cuda.is_available() and str(self.loaded.device).startswith("cuda"):
            peak = torch.cuda.max_memory_allocated(self.loaded.device) / 2**30
        rec = records.step_line(self.step, epoch, window.loss / window.steps, norm, lr, window.tokens_per_second, ev[0], ev[1], peak)
        records.append_line(records.json_line(rec), metrics)
        self.log(f"step {self.step}/{total}: loss {rec['loss']:.4f}, lr {lr:.3g}, grad norm {norm:.3f}, "
                 f"{window.tokens_per_second:.0f} tokens/s")

    def close(self) -> None:
        """Leaves the process group (data parallel), so the launcher sees a clean exit."""
        if self.dist.world > 1:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()

    def _prepare_run_dir(self, run: str, metrics: str) -> None:
        if self.step == 0 and os.path.isdir(run) and os.listdir(run):
            # A fresh run never writes over another run; one stopped before its first checkpoint
            # left only its config and log, which are redone.
            existing = set(os.listdir(run))
            from .wandb_live import RUN_DIR_ENTRIES
            if not existing <= {"config.yaml", "metrics.jsonl", *RUN_DIR_ENTRIES} or "config.yaml" not in existing:
                raise TrainingError(f"output_dir {run} already holds files; continue that run with --resume {run}, "
                                    "or choose a new output_dir (nothing was changed).")
            if os.path.exists(metrics):
                os.remove(metrics)
            # The abandoned attempt's W&B id must not name this run (its export, its Hub folder).
            from .wandb_live import LIVE_FILE
            if os.path.exists(os.path.join(run, LIVE_FILE)):
                os.remove(os.path.join(run, LIVE_FILE))
        os.makedirs(run, exist_ok=True)
        records.write_text_atomically(self.config.yaml(), os.path.join(run, "config.yaml"))
        if self.step > 0:
            records.truncate_metrics(metrics, self.step)

    # ---- signals -----------------------------------------------------------------------------

    def _install_signals(self) -> None:
        self._previous = {}
        def handler(sig: int, frame: Any) -> None:
            self._signal = sig
            # A second signal ends the process at once (the last checkpoint stays intact).
            for s in (signal.SIGINT, signal.SIGTERM):
                signal.signal(s, signal.SIG_DFL)
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._previous[s] = signal.signal(s, handler)
        except ValueError:  # not the main thread: no signal handling
            self._previous = {}

    def _restore_signals(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)

    def _stop_requested(self, should_stop: Callable[[int], bool]) -> bool:
        stop = self._signal != 0 or should_stop(self.step)
        if self.dist.world > 1:
            import torch.distributed as dist
            flag = torch.tensor([1.0 if stop else 0.0], device=self.adapter.parameters[0].device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item() > 0)
        return stop

    # ---- checkpoints -------------------------------------------------------------------------

    def _save_adapter(self, directory: str) -> None:
        records.write_directory(directory, lambda tmp: self.adapter.save(tmp, self.config.model))

    def moments(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """AdamW's moments flattened in Strawberry's layout, and its step count."""
        ms, vs, step = [], [], 0
        for p in self.adapter.parameters:
            st = self.optimizer.state.get(p, {})
            ms.append(st.get("exp_avg", torch.zeros_like(p)))
            vs.append(st.get("exp_avg_sq", torch.zeros_like(p)))
            if "step" in st:
                step = int(float(st["step"]))
        return self.adapter.flat(ms), self.adapter.flat(vs), step

    def _save_checkpoint(self, run: str) -> None:
        if not self.dist.main:
            return
        m, v, opt_step = self.moments()
        state = records.TrainerState(global_step=self.step, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch, max_steps=self.total_steps,
                                     seed=self.config.seed, best_eval_loss=self.best_eval_loss, optimizer_step=opt_step)
        def fill(tmp: str) -> None:
            self.adapter.save(tmp, self.config.model)
            records.write_optimizer(os.path.join(tmp, "optimizer.safetensors"), m, v, opt_step)
            records.write_json(records.state_dict(state), os.path.join(tmp, "trainer_state.json"))
        records.write_directory(os.path.join(run, f"checkpoint-{self.step}"), fill)
        records.rotate_checkpoints(run, self.config.save_total_limit, kept=set(self.config.save_at or []))

    def restore(self, path: str) -> None:
        """Continues from a checkpoint directory, or from RUN's newest checkpoint that reads back
        whole (one cut short by a crash is skipped for the one before it)."""
        if os.path.isfile(os.path.join(path, "trainer_state.json")):
            return self._restore_checkpoint(path)
        steps = records.checkpoint_steps(path)
        if not steps:
            raise TrainingError(f"{path} has no checkpoint-*/ to resume from; give the run directory of an interrupted training run.")
        last: Optional[Exception] = None
        for s in reversed(steps):
            d = os.path.join(path, f"checkpoint-{s}")
            try:
                return self._restore_checkpoint(d)
            except (records.RecordError, ValueError, OSError) as e:
                self.log(f"warning: cannot resume from {d}: {e}; trying the one before")
                last = e
        assert last is not None
        raise last

    def _restore_checkpoint(self, d: str) -> None:
        st = records.TrainerState.read(os.path.join(d, "trainer_state.json"))
        s, e, b = st.global_step, st.epoch, st.batch_in_epoch
        # Every counter must be one this run could have reached.
        if not (0 <= s <= self.total_steps and st.optimizer_step == s and 0 <= b <= self.batches_per_epoch
                and 0 <= e <= s * self.config.gradient_accumulation_steps):
            raise records.RecordError(f"{d}/trainer_state.json: step {s}, optimizer step {st.optimizer_step}, epoch {e}, batch {b} do not fit "
                                      f"a run of {self.total_steps} steps of {self.batches_per_epoch} batches per epoch; "
                                      "resume with the configuration the run was started with.")
        if st.seed != self.config.seed:
            raise records.RecordError(f"{d}/trainer_state.json: it was trained with seed {st.seed}, the config says {self.config.seed}; "
                                      "resume with the configuration the run was started with.")
        f = read_adapter(d, self.adapter.layers, self.adapter.model_type)
        check_same_layout(f, self.adapter, d, "checkpoint")
        m, v = records.read_optimizer(os.path.join(d, "optimizer.safetensors"), self.adapter.parameter_count)
        self.adapter.load_values(f.tensors)
        for p, pm, pv in zip(self.adapter.parameters, self.adapter.unflat(m), self.adapter.unflat(v)):
            self.optimizer.state[p] = {"step": torch.tensor(float(s), dtype=torch.float32), "exp_avg": pm.clone(), "exp_avg_sq": pv.clone()}
        self.step, self.epoch, self.batch_in_epoch = s, e, b
        self.best_eval_loss = st.best_eval_loss
        self.log(f"resuming from {d} at step {s}")


@dataclass
class _Window:
    """The steps since the last metrics line: their mean loss and throughput."""
    loss: float = 0.0
    tokens: int = 0
    seconds: float = 0.0
    steps: int = 0

    def add(self, loss: float, tokens: int, seconds: float) -> None:
        self.loss += loss
        self.tokens += tokens
        self.seconds += seconds
        self.steps += 1

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


def _fmt(x: Optional[float]) -> str:
    return "nan" if x is None else f"{x:.4f}"


def _pct(x: Optional[float]) -> str:
    return "nan%" if x is None else f"{100 * x:.1f}%"

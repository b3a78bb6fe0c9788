"""The training configuration: the same YAML keys, defaults, overrides and checks as
Sources/Training/TrainConfig.swift, so one file configures both engines.

GPU-only choices (device, precision, gradient checkpointing) are command-line flags, never
keys here: a config must stay readable by `strawberry train`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
MAX_RANK = 4096


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key and what would work."""


@dataclass
class LoRASettings:
    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    #: Module names matched against the end of each linear layer's path (PEFT semantics), or
    #: ["all-linear"]; empty means the architecture's default targets.
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    use_rslora: bool = False

    @property
    def scale(self) -> float:
        return self.alpha / math.sqrt(self.r) if self.use_rslora else self.alpha / self.r

    def validate(self) -> None:
        if not 1 <= self.r <= MAX_RANK:
            raise ConfigError(f"lora.r = {self.r}: expected an integer in 1...{MAX_RANK}.")
        if not (math.isfinite(self.alpha) and 0 < self.alpha <= 1e6):
            raise ConfigError(f"lora.alpha = {self.alpha}: expected a number in (0, 1e6].")
        if not (math.isfinite(self.dropout) and 0 <= self.dropout < 1):
            raise ConfigError(f"lora.dropout = {self.dropout}: expected a number in [0, 1).")


@dataclass
class TrainConfig:
    model: str = "assets/SmolLM2-135M-Instruct.Q4_1.gguf"
    data: str = "out/data-smollm2"
    output_dir: str = "runs/smollm2-spelling"
    #: Optimizer steps; <= 0 means train `num_epochs` epochs.
    max_steps: int = 200
    num_epochs: float = 1.0
    learning_rate: float = 2e-4
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    lr_scheduler: str = "cosine"
    warmup_steps: int = 10
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    seed: int = 42
    max_length: int = 128
    train_on_prompt: bool = False
    chat_template: bool = True
    #: Qwen3 only; None leaves the chat template's default (written as null, as Swift does).
    enable_thinking: Optional[bool] = False
    logging_steps: int = 10
    eval_steps: int = 50
    eval_samples: int = 64
    generation_check_samples: int = 16
    save_steps: int = 100
    save_total_limit: int = 2
    lora: LoRASettings = field(default_factory=LoRASettings)
    #: A PEFT adapter to start from (weights only; the optimizer starts fresh).
    init_adapter: Optional[str] = None
    #: Steps that also get a checkpoint, kept whatever save_total_limit says (dose–response budgets).
    save_at: Optional[list[int]] = None
    #: How the Swift engine holds the frozen base weights (f32 or bf16). This backend's precision is its
    #: --precision flag (auto: bf16 on CUDA, float32 on CPU); the key is read, checked and written back so
    #: that one config.yaml serves both engines.
    precision: str = "f32"
    #: Where steps are streamed while training (HF's `report_to`): "wandb", or none (the default). Written back
    #: only when set, as Swift does.
    report_to: Optional[list[str]] = None

    # ---- reading -------------------------------------------------------------------------

    @staticmethod
    def resolve(yaml_path: Optional[str], overrides: list[str]) -> "TrainConfig":
        """Reads YAML (if given) and applies `key=value` overrides; `lora.r=8` reaches into lora.
        Unknown keys are errors, as in Swift."""
        top: dict[str, Any] = {}
        if yaml_path is not None:
            try:
                with open(yaml_path, encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                raise ConfigError(f"cannot read {yaml_path}; check the path (configs/train-smollm2.yaml is an example).") from None
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise ConfigError(f"{yaml_path}: not a usable YAML config: {e}.") from None
            if doc is None:
                doc = {}
            if not isinstance(doc, dict):
                raise ConfigError(f"{yaml_path}: not a usable YAML config: the top level must be a mapping of keys to values.")
            if any(not isinstance(k, str) for k in doc):
                raise ConfigError(f"{yaml_path}: not a usable YAML config: a key is not a string.")
            top = dict(doc)
        for o in overrides:
            key, eq, raw = o.partition("=")
            if not eq:
                raise ConfigError(f"--set '{o}': expected key=value (e.g. --set max_steps=50 --set lora.r=8).")
            value = _yaml_value(raw)
            parts = key.split(".")
            if len(parts) == 2 and parts[0] == "lora":
                lora = top.get("lora")
                lora = dict(lora) if isinstance(lora, dict) else {}
                lora[parts[1]] = value
                top["lora"] = lora
            elif len(parts) == 1:
                top[key] = value
            else:
                raise _unknown([key])
        lora_keys = list(top["lora"].keys()) if isinstance(top.get("lora"), dict) else []
        unknown = [k for k in top if k not in _KEYS] + [f"lora.{k}" for k in lora_keys if k not in _LORA_KEYS]
        if unknown:
            raise _unknown(sorted(str(k) for k in unknown))
        return TrainConfig._decode(top)

    @staticmethod
    def _decode(top: dict[str, Any]) -> "TrainConfig":
        c = TrainConfig()
        for f in dataclasses.fields(TrainConfig):
            if f.name not in top:
                continue
            v = top[f.name]
            if f.name == "lora":
                c.lora = _decode_lora(v)
            elif f.name == "enable_thinking":
                c.enable_thinking = None if v is None else _typed(f.name, v, bool)
            elif f.name == "init_adapter":
                c.init_adapter = None if v is None else _typed(f.name, v, str)
            elif f.name == "report_to":
                c.report_to = _report_to(v)
            elif f.name == "save_at":
                if v is not None and (not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, int) for x in v)):
                    raise ConfigError(f"bad training config: save_at: expected a list of step numbers, found {str(v)[:60]}.")
                c.save_at = v
            elif v is None:
                continue  # a null value keeps the default, as decodeIfPresent does
            else:
                setattr(c, f.name, _typed(f.name, v, _FIELD_TYPES[f.name]))
        if c.precision not in ("f32", "bf16"):
            raise ConfigError(f"bad training config: precision '{c.precision}' is not one of f32, bf16.")
        if c.lr_scheduler not in SCHEDULERS:
            raise ConfigError(f"bad training config: lr_scheduler '{c.lr_scheduler}' is not one of {', '.join(SCHEDULERS)}.")
        return c

    # ---- checking ------------------------------------------------------------------------

    def validate(self) -> None:
        """Checks every number before anything is sized or scheduled from it (TrainConfig.validate)."""

        def need(ok: bool, key: str, value: Any, expected: str) -> None:
            if not ok:
                raise ConfigError(f"config {key} = {value}: expected {expected}.")

        paths = [("model", self.model), ("data", self.data), ("output_dir", self.output_dir)]
        if self.init_adapter is not None:
            paths.append(("init_adapter", self.init_adapter))
        for key, path in paths:
            need(bool(path.strip()), key, f'"{path}"', "a path")
        need(1 <= self.batch_size <= 4096, "batch_size", self.batch_size, "an integer in 1...4096")
        need(1 <= self.gradient_accumulation_steps <= 4096, "gradient_accumulation_steps", self.gradient_accumulation_steps, "an integer in 1...4096")
        need(self.max_steps <= 10_000_000, "max_steps", self.max_steps, "at most 10,000,000 (≤ 0 means train num_epochs)")
        need(math.isfinite(self.num_epochs) and 0 <= self.num_epochs <= 10_000, "num_epochs", self.num_epochs, "a number in [0, 10000]")
        need(self.max_steps > 0 or self.num_epochs > 0, "num_epochs", self.num_epochs, "a number > 0 when max_steps ≤ 0")
        need(math.isfinite(self.learning_rate) and 0 < self.learning_rate < 1, "learning_rate", self.learning_rate, "a number in (0, 1)")
        need(0 <= self.warmup_steps <= 10_000_000, "warmup_steps", self.warmup_steps, "an integer ≥ 0")
        need(math.isfinite(self.weight_decay) and 0 <= self.weight_decay < 1, "weight_decay", self.weight_decay, "a number in [0, 1)")
        need(math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "a finite number > 0")
        need(math.isfinite(self.adam_beta1) and 0 <= self.adam_beta1 < 1, "adam_beta1", self.adam_beta1, "a number in [0, 1)")
        need(math.isfinite(self.adam_beta2) and 0 <= self.adam_beta2 < 1, "adam_beta2", self.adam_beta2, "a number in [0, 1)")
        need(math.isfinite(self.adam_epsilon) and self.adam_epsilon > 0, "adam_epsilon", self.adam_epsilon, "a finite number > 0")
        need(4 <= self.max_length <= 1_048_576, "max_length", self.max_length, "an integer in 4...1048576")
        need(0 <= self.logging_steps <= 1_000_000, "logging_steps", self.logging_steps, "an integer ≥ 0")
        need(0 <= self.eval_steps <= 10_000_000, "eval_steps", self.eval_steps, "an integer ≥ 0 (0 = never)")
        need(0 <= self.eval_samples <= 1_000_000, "eval_samples", self.eval_samples, "an integer in 0...1000000")
        need(0 <= self.generation_check_samples <= 1_000_000, "generation_check_samples", self.generation_check_samples, "an integer in 0...1000000")
        need(0 <= self.save_steps <= 10_000_000, "save_steps", self.save_steps, "an integer ≥ 0 (0 = only at the end)")
        need(0 <= self.save_total_limit <= 1_000_000, "save_total_limit", self.save_total_limit, "an integer ≥ 0 (0 = keep all)")
        need(0 <= self.seed < 2**64, "seed", self.seed, "an integer in 0...18446744073709551615")
        if self.save_at is not None:
            need(len(self.save_at) <= 10_000 and all(1 <= x <= 10_000_000 for x in self.save_at), "save_at", self.save_at[:8],
                 "at most 10,000 steps, each in 1...10000000")
        self.lora.validate()

    # ---- writing -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The resolved config in Swift's key order; `init_adapter` only when set (Swift omits a nil)."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(TrainConfig):
            v = getattr(self, f.name)
            if f.name == "lora":
                v = dataclasses.asdict(self.lora)
            if f.name in ("init_adapter", "save_at", "report_to") and v is None:
                continue
            d[f.name] = v
        return d

    def yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


_FIELD_TYPES: dict[str, type] = {"max_steps": int, "num_epochs": float, "learning_rate": float, "batch_size": int,
                     "gradient_accumulation_steps": int, "lr_scheduler": str, "warmup_steps": int, "weight_decay": float,
                     "max_grad_norm": float, "adam_beta1": float, "adam_beta2": float, "adam_epsilon": float, "seed": int,
                     "max_length": int, "train_on_prompt": bool, "chat_template": bool, "logging_steps": int, "eval_steps": int,
                     "eval_samples": int, "generation_check_samples": int, "save_steps": int, "save_total_limit": int,
                     "model": str, "data": str, "output_dir": str, "precision": str}
_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}
_LORA_KEYS = {"r", "alpha", "dropout", "target_modules", "use_rslora"}


REPORT_TO = ("wandb", "none")


def _report_to(v: Any) -> Optional[list[str]]:
    """`report_to: wandb`, a list of targets, or none/null (nothing streamed)."""
    if v is None:
        return None
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not all(isinstance(x, str) and x in REPORT_TO for x in items):
        raise ConfigError(f"bad training config: report_to: expected wandb or none (or a list of them), found {str(v)[:60]}.")
    return [x for x in items if x != "none"] or None


def _unknown(keys: list[str]) -> ConfigError:
    return ConfigError(f"unknown config keys: {', '.join(keys)}; see configs/train-smollm2.yaml for the accepted keys.")


def _yaml_value(raw: str) -> Any:
    """An override's value read as YAML (numbers, booleans, lists); text that is not YAML stays a string."""
    if not raw.strip():
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _typed(key: str, v: Any, kind: type) -> Any:
    """One value checked against its key's type, as Swift's Codable decoding checks it."""
    if kind is bool:
        if isinstance(v, bool):
            return v
    elif kind is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    elif kind is float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        # PyYAML follows YAML 1.1, where 2e-4 (no dot) is a string; Swift's YAML reads it as a number.
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
    names = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}
    raise ConfigError(f"bad training config: {key}: expected {names[kind]}, found {v!r}.")


def _decode_lora(v: Any) -> LoRASettings:
    if not isinstance(v, dict):
        raise ConfigError(f"bad training config: lora: expected a mapping (r, alpha, dropout, target_modules, use_rslora), found {v!r}.")
    # A partial `lora` mapping (or `--set lora.r=8` without one) keeps the config's defaults for the
    # keys it omits, as TrainConfig decodes it on the Swift side.
    s = LoRASettings()
    if v.get("r") is not None:
        s.r = _typed("lora.r", v["r"], int)
    if v.get("alpha") is not None:
        s.alpha = _typed("lora.alpha", v["alpha"], float)
    if v.get("dropout") is not None:
        s.dropout = _typed("lora.dropout", v["dropout"], float)
    if v.get("use_rslora") is not None:
        s.use_rslora = _typed("lora.use_rslora", v["use_rslora"], bool)
    t = v.get("target_modules")
    if isinstance(t, str):
        s.target_modules = [t]
    elif isinstance(t, list) and all(isinstance(x, str) for x in t):
        s.target_modules = list(t)
    elif t is not None:
        raise ConfigError(f"bad training config: lora.target_modules: expected a module name or a list of them, found {t!r}.")
    return s

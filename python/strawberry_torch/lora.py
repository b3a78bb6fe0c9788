"""LoRA as Strawberry lays it out (Sources/Adapters/LoRA.swift), on top of PEFT.

Which linears are adapted, in which order, and the seeded A initialisation follow the Swift
code exactly, so a run from the same seed starts from the identical adapter. PEFT does the
forward pass; adapters are written and read in PEFT's file format with Swift's full
adapter_config.json key set, so either engine reads the other's directories.

Order: layer 0..L-1, within a layer the linears in forward order — the order of PyTorch's
`named_modules()`. A is [r, in], B is [out, r]; optimizer moments are flattened per module as
A row-major then B row-major ("Strawberry's layout").
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import LoRASettings
from .rng import SplitMix64

#: PEFT's default targets (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING), as Swift's descriptors list them.
DEFAULT_TARGETS = {"gpt2": ["c_attn"], "llama": ["q_proj", "v_proj"], "qwen3": ["q_proj", "v_proj"]}
UNSUPPORTED_TARGETS = ("lm_head", "embed_tokens", "wte")


class AdapterError(ValueError):
    """An adapter or LoRA setting that cannot be used; the message names what would work."""


@dataclass(frozen=True)
class LoRAModule:
    path: str           # e.g. model.layers.3.self_attn.q_proj
    kind: str           # the path inside the block: self_attn.q_proj, attn.c_attn, …
    in_features: int
    out_features: int

    @property
    def key_a(self) -> str:
        return f"base_model.model.{self.path}.lora_A.weight"

    @property
    def key_b(self) -> str:
        return f"base_model.model.{self.path}.lora_B.weight"


def linear_layers(model: torch.nn.Module) -> list[LoRAModule]:
    """Every adaptable linear inside the transformer blocks, in named_modules() order (the LM head
    and embeddings are not adaptable, as in Swift)."""
    from transformers.pytorch_utils import Conv1D
    out = []
    for name, m in model.named_modules():
        parts = name.split(".")
        block = next((i for i, p in enumerate(parts) if p.isdigit()), None)
        if block is None:
            continue
        kind = ".".join(parts[block + 1:])
        if isinstance(m, torch.nn.Linear):
            out.append(LoRAModule(name, kind, m.in_features, m.out_features))
        elif isinstance(m, Conv1D):   # GPT-2 stores weights [in, out]
            out.append(LoRAModule(name, kind, int(m.weight.shape[0]), int(m.weight.shape[1])))
    return out


def resolve_modules(layers: list[LoRAModule], settings: LoRASettings, model_type: str) -> tuple[list[LoRAModule], list[str]]:
    """The adapted modules and the resolved target list (LoRAState.init): a target t matches path
    p when t is "all-linear", p == t, or p ends with "." + t."""
    targets = settings.target_modules or DEFAULT_TARGETS.get(model_type, [])
    if not targets:
        raise AdapterError(f"lora.target_modules is empty and {model_type} has no default targets; name the modules (or all-linear).")
    bad = next((t for t in targets if t in UNSUPPORTED_TARGETS), None)
    if bad:
        raise AdapterError(f"LoRA on the (tied) embedding / lm_head ('{bad}') is not supported; remove it from lora.target_modules.")
    chosen, matched = [], set()
    for m in layers:
        t = next((t for t in targets if t == "all-linear" or m.path == t or m.path.endswith("." + t)), None)
        if t is not None:
            matched.add(t)
            chosen.append(m)
    narrow = next((m for m in chosen if settings.r > min(m.in_features, m.out_features)), None)
    if narrow:
        raise AdapterError(f"lora.r = {settings.r}: expected at most {min(narrow.in_features, narrow.out_features)}, "
                           f"the smaller dimension of {narrow.kind}.")
    unmatched = sorted(set(targets) - matched)
    if unmatched:
        kinds = list(dict.fromkeys(m.kind for m in layers))
        raise AdapterError(f"lora.target_modules {unmatched} match no layer of this {model_type} model; "
                           f"available: {', '.join(kinds)} (or all-linear).")
    return chosen, list(targets)


def seeded_a(modules: list[LoRAModule], r: int, seed: int) -> list[np.ndarray]:
    """A of every module from ONE SplitMix64(seed) stream, module by module, row-major:
    value = Float(uniform·2 − 1) · (1/√in) in float32, as Swift computes it."""
    rng = SplitMix64(seed)
    out = []
    for m in modules:
        u = rng.uniforms(r * m.in_features)
        bound = np.float32(1) / np.sqrt(np.float32(m.in_features))
        out.append(((u * 2 - 1).astype(np.float32) * bound).reshape(r, m.in_features))
    return out


class Adapter:
    """The PEFT-wrapped model plus Strawberry's view of its factors: `pairs[i]` = (A, B) of
    `modules[i]`, the parameters the optimizer gets in that order."""

    def __init__(self, peft_model: Any, layers: list[LoRAModule], modules: list[LoRAModule], settings: LoRASettings,
                 targets: list[str], model_type: str) -> None:
        self.model = peft_model
        #: Every adaptable linear of the base model (read before PEFT wrapped them).
        self.layers = layers
        self.modules = modules
        self.settings = settings
        self.targets = targets
        self.model_type = model_type
        inner = peft_model.base_model.model
        self.pairs: list[tuple[torch.nn.Parameter, torch.nn.Parameter]] = []
        for m in modules:
            layer = inner.get_submodule(m.path)
            self.pairs.append((layer.lora_A["default"].weight, layer.lora_B["default"].weight))

    @property
    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for pair in self.pairs for p in pair]

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters)

    def set_dropout(self, p: float) -> None:
        """Dropout probability of every adapted layer (0 for evaluation and gradient checks)."""
        inner = self.model.base_model.model
        for m in self.modules:
            d = inner.get_submodule(m.path).lora_dropout["default"]
            if isinstance(d, torch.nn.Dropout):
                d.p = p

    @torch.no_grad()
    def load_values(self, tensors: list[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]]) -> None:
        for (A, B), (a, b) in zip(self.pairs, tensors):
            A.copy_(torch.as_tensor(a, dtype=torch.float32))
            B.copy_(torch.as_tensor(b, dtype=torch.float32))

    def state(self) -> dict[str, torch.Tensor]:
        """Every factor under its PEFT key (float32, on the CPU)."""
        d = {}
        for m, (A, B) in zip(self.modules, self.pairs):
            d[m.key_a] = A.detach().float().cpu().contiguous()
            d[m.key_b] = B.detach().float().cpu().contiguous()
        return d

    def flat(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """Per-parameter tensors (in `parameters` order) as one float32 vector in Strawberry's layout."""
        return torch.cat([t.detach().float().cpu().reshape(-1) for t in tensors])

    def unflat(self, v: torch.Tensor) -> list[torch.Tensor]:
        out, k = [], 0
        for p in self.parameters:
            out.append(v[k:k + p.numel()].reshape(p.shape).to(p.device, torch.float32))
            k += p.numel()
        return out

    def save(self, directory: str, base_model: str) -> None:
        save_adapter(directory, self.state(), self.settings, self.modules, base_model, self.model_type)


def attach(loaded: Any, settings: LoRASettings, seed: int, *, unsloth: bool = False) -> Adapter:
    """Wraps the base model with PEFT on exactly Strawberry's modules; A from the seed, B = 0."""
    from peft import LoraConfig, get_peft_model
    layers = linear_layers(loaded.model)
    modules, targets = resolve_modules(layers, settings, loaded.model_type)
    paths = [m.path for m in modules]
    if unsloth:
        from unsloth import FastLanguageModel  # type: ignore[import-not-found]
        peft_model = FastLanguageModel.get_peft_model(loaded.model, r=settings.r, target_modules=paths, lora_alpha=settings.alpha,
                                                      lora_dropout=settings.dropout, bias="none", use_rslora=settings.use_rslora)
    else:
        cfg = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=paths,
                         use_rslora=settings.use_rslora, fan_in_fan_out=loaded.conv1d, bias="none", task_type="CAUSAL_LM")
        peft_model = get_peft_model(loaded.model, cfg)
    adapter = Adapter(peft_model, layers, modules, settings, targets, loaded.model_type)
    a = seeded_a(modules, settings.r, seed)
    adapter.load_values([(a[i], np.zeros((m.out_features, settings.r), np.float32)) for i, m in enumerate(modules)])
    for p in adapter.parameters:
        p.requires_grad_(True)
    return adapter


# ---- files -------------------------------------------------------------------------------

def adapter_config(settings: LoRASettings, modules: list[LoRAModule], base_model: str, model_type: str) -> dict[str, Any]:
    """adapter_config.json with PEFT's full key set, as Swift's PEFTAdapterConfig writes it
    (target_modules: the adapted modules' last names, sorted)."""
    names = sorted({m.kind.split(".")[-1] for m in modules})
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base_model, "bias": "none", "eva_config": None,
        "exclude_modules": None, "fan_in_fan_out": model_type in ("gpt2",), "inference_mode": True, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
        "lora_alpha": settings.alpha, "lora_bias": False, "lora_dropout": settings.dropout, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": settings.r, "rank_pattern": {},
        "revision": None, "target_modules": names, "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": settings.use_rslora,
    }


def save_adapter(directory: str, tensors: dict[str, torch.Tensor], settings: LoRASettings, modules: list[LoRAModule],
                 base_model: str, model_type: str) -> None:
    os.makedirs(directory, exist_ok=True)
    save_file(tensors, os.path.join(directory, "adapter_model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(directory, "adapter_config.json"), "w", encoding="utf-8") as f:
        json.dump(adapter_config(settings, modules, base_model, model_type), f, indent=2, sort_keys=True)
        f.write("\n")


@dataclass
class AdapterFile:
    settings: LoRASettings
    modules: list[LoRAModule]
    tensors: list[tuple[torch.Tensor, torch.Tensor]]


def read_adapter(directory: str, layers: list[LoRAModule], model_type: str) -> AdapterFile:
    """A PEFT adapter directory for a model whose linears are `layers`; refuses what Strawberry
    cannot apply (PEFTAdapter.config/load): every tensor must match a module, with the right shape."""
    cpath = os.path.join(directory, "adapter_config.json")
    if not os.path.isfile(cpath):
        raise AdapterError(f"{directory}: no adapter_config.json; is this a PEFT adapter directory (the run's final/ or checkpoint-STEP/)?")
    try:
        with open(cpath, encoding="utf-8") as f:
            c = json.load(f)
    except ValueError as e:
        raise AdapterError(f"{cpath}: not valid JSON ({e}); is the adapter complete?") from None
    if not isinstance(c, dict):
        raise AdapterError(f"{cpath}: expected a JSON object (PEFT's adapter_config.json)")
    for key in ("r", "lora_alpha"):
        if not isinstance(c.get(key), (int, float)) or isinstance(c.get(key), bool):
            raise AdapterError(f"{cpath}: '{key}' is missing or not a number; is this a LoRA adapter's adapter_config.json?")
    def unsupported(feature: str) -> AdapterError:
        return AdapterError(f"{cpath}: {feature} is not supported; train a plain LoRA adapter (PEFT LoraConfig without it).")
    if c.get("peft_type", "LORA") != "LORA":
        raise unsupported(f"peft_type {c.get('peft_type')}")
    if c.get("use_dora"):
        raise unsupported("DoRA (use_dora)")
    if c.get("rank_pattern"):
        raise unsupported("rank_pattern")
    if c.get("alpha_pattern"):
        raise unsupported("alpha_pattern")
    if isinstance(c.get("target_modules"), str):
        raise unsupported(f"a regular-expression target_modules ('{c['target_modules']}')")
    if c.get("layers_to_transform") is not None or c.get("layers_pattern") is not None:
        raise unsupported("layers_to_transform / layers_pattern")
    if c.get("modules_to_save") is not None:
        raise unsupported("modules_to_save (fully trained extra modules)")
    if c.get("bias", "none") != "none":
        raise unsupported(f"bias '{c.get('bias')}'")
    fan = bool(c.get("fan_in_fan_out", False))
    if fan != (model_type == "gpt2"):
        raise AdapterError(f"{cpath}: fan_in_fan_out is {str(fan).lower()}, but {model_type} stores its weights "
                           f"{'[in, out]' if model_type == 'gpt2' else '[out, in]'}; is the adapter for another model?")
    if not isinstance(c.get("target_modules") or [], list) or not all(isinstance(t, str) for t in c.get("target_modules") or []):
        raise AdapterError(f"{cpath}: target_modules must be a list of module names")
    d = c.get("lora_dropout")
    dropout = float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else 0.0
    settings = LoRASettings(r=int(c["r"]), alpha=float(c["lora_alpha"]), dropout=min(max(dropout, 0.0), 0.99) if math.isfinite(dropout) else 0.0,
                            target_modules=list(c.get("target_modules") or []), use_rslora=bool(c.get("use_rslora", False)))
    try:
        settings.validate()
        modules, _ = resolve_modules(layers, settings, model_type)
    except ValueError as e:
        raise AdapterError(f"{cpath}: {e}") from None
    wpath = os.path.join(directory, "adapter_model.safetensors")
    if not os.path.isfile(wpath):
        raise AdapterError(f"{directory}: no adapter_model.safetensors beside adapter_config.json")
    tensors, used = [], set()
    with safe_open(wpath, framework="pt") as st:
        present = set(st.keys())
        for m in modules:
            if m.key_a not in present or m.key_b not in present:
                raise AdapterError(f"{directory}: the adapter lacks lora_A/lora_B for {m.path}; is adapter_config.json's target_modules right?")
            a, b = st.get_tensor(m.key_a).float(), st.get_tensor(m.key_b).float()
            want = ([settings.r, m.in_features], [m.out_features, settings.r])
            if list(a.shape) != want[0] or list(b.shape) != want[1]:
                raise AdapterError(f"{directory}: {m.path} has shapes {list(a.shape)} / {list(b.shape)}, expected {want[0]} / {want[1]}; "
                                   "is it for another model?")
            for key, t in ((m.key_a, a), (m.key_b, b)):
                if not torch.isfinite(t).all():
                    raise AdapterError(f"{directory}: {key} holds NaN or infinite values; the adapter is corrupt (was training diverging?).")
            tensors.append((a, b))
            used.update((m.key_a, m.key_b))
    extra = sorted(present - used)
    if extra:
        raise AdapterError(f"{directory}: tensors that match no layer of this model: {', '.join(extra[:5])}; is it for another model?")
    return AdapterFile(settings, modules, tensors)


def check_same_layout(given: AdapterFile, adapter: Adapter, path: str, what: str) -> None:
    """An adapter read from disk must have the config's rank, alpha, rsLoRA and modules."""
    s, c = given.settings, adapter.settings
    if [m.path for m in given.modules] != [m.path for m in adapter.modules] or s.r != c.r or s.alpha != c.alpha or s.use_rslora != c.use_rslora:
        raise AdapterError(f"{what} {path}: it has r {s.r}, alpha {s.alpha}, {len(given.modules)} LoRA modules; the config's lora asks for "
                           f"r {c.r}, alpha {c.alpha}, {len(adapter.modules)} modules (set lora.* to match it)")


def start_from(adapter: Adapter, directory: str, what: str = "init_adapter") -> AdapterFile:
    """Loads an adapter directory's factors into `adapter` (its layout must be the config's)."""
    f = read_adapter(directory, adapter.layers, adapter.model_type)
    check_same_layout(f, adapter, directory, what)
    adapter.load_values(f.tensors)
    return f

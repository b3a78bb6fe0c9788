"""Opening a base model with transformers: a Hugging Face directory or a .gguf file (through
transformers' `gguf_file=` support, which dequantises to float), on the chosen device and
precision, with the facts the Swift side reads from the same files (context length, thinking
mode, stop tokens).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import torch

#: Architectures whose chat template takes `enable_thinking` (Swift: hasThinkingMode).
THINKING_MODEL_TYPES = {"qwen3"}
#: Weights stored [in, out] (Conv1D): PEFT's fan_in_fan_out (Swift: conv1DWeights).
CONV1D_MODEL_TYPES = {"gpt2"}


class ModelLoadError(RuntimeError):
    """A model that cannot be opened; the message says which path and what to give instead."""


@dataclass
class LoadedModel:
    path: str
    model: Any
    tokenizer: Any
    model_type: str
    context_length: int
    device: torch.device
    #: "float32" or "bfloat16": what the forward pass computes in.
    compute_dtype: torch.dtype

    @property
    def thinking_capable(self) -> bool:
        return self.model_type in THINKING_MODEL_TYPES

    @property
    def conv1d(self) -> bool:
        return self.model_type in CONV1D_MODEL_TYPES

    def stop_token_ids(self) -> set[int]:
        """eos ids of config.json, the tokenizer's eos, and <|im_end|> (LoadedModel.stopTokenIds)."""
        stops: set[int] = set()
        e = getattr(self.model.config, "eos_token_id", None)
        if isinstance(e, int):
            stops.add(e)
        elif isinstance(e, (list, tuple)):
            stops.update(int(x) for x in e)
        if self.tokenizer.eos_token_id is not None:
            stops.add(int(self.tokenizer.eos_token_id))
        vocab = self.tokenizer.get_vocab()
        if "<|im_end|>" in vocab:
            stops.add(int(vocab["<|im_end|>"]))
        return stops

    @property
    def autocast(self) -> Any:
        """bf16 autocast on CUDA (LoRA factors stay float32); nothing on CPU."""
        if self.compute_dtype == torch.bfloat16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError("--device cuda: no CUDA device is available to this torch build; use --device cpu")
        return torch.device("cuda", local_rank)
    if device == "cpu":
        return torch.device("cpu")
    raise ModelLoadError(f"--device {device}: expected auto, cpu or cuda")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        if device.type != "cuda":
            raise ModelLoadError("--precision bf16 is for CUDA devices; on CPU the backend computes in float32 (--precision fp32)")
        return torch.bfloat16
    raise ModelLoadError(f"--precision {precision}: expected auto, fp32 or bf16")


def _quiet_transformers() -> None:
    from transformers.utils import logging as tlog
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer
    _quiet_transformers()
    where, extra = _source(path)
    tokenizer = AutoTokenizer.from_pretrained(where, **extra)
    if "gguf_file" in extra:
        _gguf_tokenizer_fixups(tokenizer, path)
    return tokenizer


def _gguf_tokenizer_fixups(tokenizer: Any, path: str) -> None:
    """transformers' GGUF tokenizer conversion can drop the chat template and the eos token
    (seen with transformers 5.24); Strawberry reads both from the file, so the backend does too."""
    from gguf import GGUFReader  # type: ignore[import-not-found]
    fields = GGUFReader(path).fields
    def scalar(key: str) -> Any:
        f = fields.get(key)
        if f is None or not f.data:
            return None
        part = f.parts[f.data[0]]
        return bytes(part).decode("utf-8") if f.types and f.types[0].name == "STRING" else part.tolist()[0]
    if getattr(tokenizer, "chat_template", None) is None:
        template = scalar("tokenizer.chat_template")
        if isinstance(template, str):
            tokenizer.chat_template = template
    if tokenizer.eos_token is None:
        eos = scalar("tokenizer.ggml.eos_token_id")
        if isinstance(eos, int):
            tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos)


def load(path: str, *, device: str = "auto", precision: str = "auto", gradient_checkpointing: bool = False,
         unsloth: bool = False, local_rank: int = 0) -> LoadedModel:
    """The base model (frozen) and its tokenizer. Base weights sit in the compute dtype; LoRA
    factors added later are float32 either way."""
    from transformers import AutoModelForCausalLM
    _quiet_transformers()
    dev = resolve_device(device, local_rank)
    dtype = resolve_precision(precision, dev)
    where, extra = _source(path)
    if unsloth:
        model, tokenizer = _load_unsloth(path, dtype)
    else:
        try:
            model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **extra)
        except (OSError, ValueError, RuntimeError) as e:
            hint = (" transformers converts GGUF metadata itself and may miss keys (5.24 ignores Qwen3's key_length and "
                    "GPT-2's context_length)." if "gguf_file" in extra else "")
            raise ModelLoadError(f"{path}: transformers cannot open this model ({str(e).splitlines()[0][:300]}).{hint} Give a Hugging "
                                 "Face model directory (config.json, *.safetensors, tokenizer files).") from None
        tokenizer = load_tokenizer(path)
    model.to(dev)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if gradient_checkpointing:
        # Non-reentrant checkpointing needs no input gradients, so frozen embeddings are fine.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    cfg = model.config
    ctx = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    if not isinstance(ctx, int) or ctx <= 0:
        raise ModelLoadError(f"{path}: config.json names no context length (max_position_embeddings / n_positions)")
    return LoadedModel(path=path, model=model, tokenizer=tokenizer, model_type=str(cfg.model_type), context_length=ctx,
                       device=dev, compute_dtype=dtype)


def _source(path: str) -> tuple[str, dict[str, Any]]:
    """from_pretrained arguments: a directory as it is; a .gguf file as its directory + gguf_file."""
    if os.path.isdir(path):
        return path, {}
    if path.endswith(".gguf") and os.path.isfile(path):
        try:
            import gguf  # noqa: F401  (transformers reads GGUF through this package)
        except ImportError:
            raise ModelLoadError(f"{path}: reading .gguf files needs the `gguf` package (pip install gguf), "
                                 "or give the Hugging Face model directory instead") from None
        return os.path.dirname(os.path.abspath(path)), {"gguf_file": os.path.basename(path)}
    raise ModelLoadError(f"{path}: no such model; give a Hugging Face model directory or a .gguf file")


def _load_unsloth(path: str, dtype: torch.dtype) -> tuple[Any, Any]:
    try:
        from unsloth import FastLanguageModel  # type: ignore[import-not-found]
    except ImportError:
        raise ModelLoadError("--unsloth: the unsloth package is not importable here (pip install unsloth, on a CUDA machine)") from None
    model, tokenizer = FastLanguageModel.from_pretrained(model_name=path, dtype=dtype, load_in_4bit=False)
    return model, tokenizer


def engine_description(loaded: Optional[LoadedModel], engine: str = "transformers") -> str:
    """e.g. "transformers 5.24.0 + peft 0.21.2 (cpu, float32)" for generation_info.json."""
    import peft
    import transformers
    where = "?" if loaded is None else f"{loaded.device.type}, {str(loaded.compute_dtype).replace('torch.', '')}"
    if engine == "vllm":
        import vllm  # type: ignore[import-not-found]
        return f"vllm {vllm.__version__} ({where})"
    return f"transformers {transformers.__version__} + peft {peft.__version__} ({where})"

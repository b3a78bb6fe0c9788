"""Opening models: a .gguf file through transformers (with the chat template and eos Strawberry
reads from it), and clear errors for what cannot be opened."""
import os

import pytest
import torch

from conftest import FIXTURES
from strawberry_torch import models

pytest.importorskip("gguf")


def test_gguf_llama_equals_its_hugging_face_directory():
    g = models.load(os.path.join(FIXTURES, "llama", "model.gguf"), device="cpu", precision="fp32")
    h = models.load(os.path.join(FIXTURES, "llama"), device="cpu", precision="fp32")
    x = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert torch.allclose(g.model(input_ids=x).logits, h.model(input_ids=x).logits, atol=1e-6)
    m = [{"role": "user", "content": "Spell 'fox'."}]
    text = g.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
    assert text == h.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
    assert g.tokenizer(text, add_special_tokens=False)["input_ids"] == h.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert g.stop_token_ids() == h.stop_token_ids() and g.context_length == h.context_length == 64


def test_unreadable_models_say_what_to_give():
    with pytest.raises(models.ModelLoadError, match="Give a Hugging Face model directory"):
        models.load(os.path.join(FIXTURES, "qwen3", "model.gguf"), device="cpu")   # transformers misreads its head_dim
    with pytest.raises(models.ModelLoadError, match="no such model"):
        models.load("/nonexistent/model", device="cpu")
    with pytest.raises(models.ModelLoadError, match="bf16 is for CUDA"):
        models.resolve_precision("bf16", torch.device("cpu"))

"""LoRA layout, seeded initialisation, and the PEFT-format files (read by PEFT itself)."""
import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import FIXTURES
from strawberry_torch import lora, models
from strawberry_torch.config import LoRASettings
from strawberry_torch.data import ExampleEncoder, collate
from strawberry_torch.rng import SplitMix64
from strawberry_torch.train import summed_loss

QWEN3 = os.path.join(FIXTURES, "qwen3")


def load(arch="qwen3"):
    return models.load(os.path.join(FIXTURES, arch), device="cpu", precision="fp32")


def test_modules_in_forward_order_and_targets():
    m = load()
    layers = lora.linear_layers(m.model)
    assert [x.kind for x in layers[:7]] == ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
    chosen, _ = lora.resolve_modules(layers, LoRASettings(r=4, target_modules=["all-linear"]), "qwen3")
    assert len(chosen) == 14 and chosen[7].path == "model.layers.1.self_attn.q_proj"
    chosen, targets = lora.resolve_modules(layers, LoRASettings(r=4, target_modules=[]), "qwen3")
    assert targets == ["q_proj", "v_proj"] and [c.kind for c in chosen[:2]] == ["self_attn.q_proj", "self_attn.v_proj"]
    g = load("gpt2")
    chosen, _ = lora.resolve_modules(lora.linear_layers(g.model), LoRASettings(r=4, target_modules=["c_proj"]), "gpt2")
    assert [c.kind for c in chosen[:2]] == ["attn.c_proj", "mlp.c_proj"]   # suffix match, as PEFT
    assert chosen[1].in_features == 4 * g.model.config.n_embd


def test_target_errors_say_what_is_available():
    layers = lora.linear_layers(load().model)
    with pytest.raises(lora.AdapterError, match="match no layer.*available: self_attn.q_proj"):
        lora.resolve_modules(layers, LoRASettings(r=4, target_modules=["qkv"]), "qwen3")
    with pytest.raises(lora.AdapterError, match="lm_head"):
        lora.resolve_modules(layers, LoRASettings(r=4, target_modules=["lm_head"]), "qwen3")
    with pytest.raises(lora.AdapterError, match="at most 32"):
        lora.resolve_modules(layers, LoRASettings(r=33, target_modules=["q_proj"]), "qwen3")


def test_seeded_a_is_one_stream_in_float32():
    mods = [lora.LoRAModule("a", "x", 5, 7), lora.LoRAModule("b", "y", 3, 2)]
    got = lora.seeded_a(mods, 2, seed=9)
    rng = SplitMix64(9)
    for m, a in zip(mods, got):
        bound = np.float32(1) / np.sqrt(np.float32(m.in_features))
        want = [np.float32(rng.uniform() * 2 - 1) * bound for _ in range(2 * m.in_features)]
        assert a.dtype == np.float32 and np.array_equal(a.reshape(-1), np.array(want, dtype=np.float32))


def test_attach_starts_at_the_base_model():
    m = load()
    x = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        base = m.model(input_ids=x).logits
    a = lora.attach(m, LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["all-linear"]), seed=3)
    assert all((B == 0).all() for _, B in a.pairs) and all((A != 0).any() for A, _ in a.pairs)
    with torch.no_grad():
        assert torch.equal(a.model(input_ids=x).logits, base)


def random_b(a, seed=0):
    g = torch.Generator().manual_seed(seed)
    a.load_values([(A.detach(), torch.randn(B.shape, generator=g) * 0.1) for A, B in a.pairs])


def test_saved_adapter_loads_in_peft_and_back(tmp_path):
    from peft import PeftModel
    m = load()
    a = lora.attach(m, LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"]), seed=1)
    random_b(a)
    a.save(str(tmp_path / "ad"), "base")
    cfg = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert cfg["target_modules"] == ["down_proj", "q_proj", "v_proj"] and cfg["r"] == 4 and cfg["lora_alpha"] == 8
    x = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        ours = a.model(input_ids=x).logits
    peft_model = PeftModel.from_pretrained(load().model, str(tmp_path / "ad")).eval()
    with torch.no_grad():
        theirs = peft_model(input_ids=x).logits
    assert torch.allclose(ours, theirs, atol=1e-6)
    back = lora.read_adapter(str(tmp_path / "ad"), a.layers, "qwen3")
    assert [x.path for x in back.modules] == [x.path for x in a.modules]
    for (A, B), (a2, b2) in zip(a.pairs, back.tensors):
        assert torch.equal(A.detach(), a2) and torch.equal(B.detach(), b2)


def test_read_adapter_refuses_what_does_not_fit(tmp_path):
    m = load()
    a = lora.attach(m, LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj"]), seed=1)
    d = tmp_path / "ad"
    a.save(str(d), "base")
    t = load_file(str(d / "adapter_model.safetensors"))
    t["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"] = torch.zeros(4, 32)
    save_file(t, str(d / "adapter_model.safetensors"))
    with pytest.raises(lora.AdapterError, match="tensors that match no layer"):
        lora.read_adapter(str(d), a.layers, "qwen3")
    t.pop("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight")
    t["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = torch.zeros(4, 31)
    save_file(t, str(d / "adapter_model.safetensors"))
    with pytest.raises(lora.AdapterError, match=r"shapes \[4, 31\]"):
        lora.read_adapter(str(d), a.layers, "qwen3")
    c = json.loads((d / "adapter_config.json").read_text())
    c["use_dora"] = True
    (d / "adapter_config.json").write_text(json.dumps(c))
    with pytest.raises(lora.AdapterError, match="DoRA"):
        lora.read_adapter(str(d), a.layers, "qwen3")
    with pytest.raises(lora.AdapterError, match="no adapter_config.json"):
        lora.read_adapter(str(tmp_path), a.layers, "qwen3")


def test_right_padding_leaves_each_sequence_loss_unchanged():
    m = load()
    a = lora.attach(m, LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["all-linear"]), seed=1)
    random_b(a)
    enc = ExampleEncoder(m.tokenizer, chat_template=True, enable_thinking=False, thinking_capable=True, train_on_prompt=False,
                         max_length=128, context_length=64)
    exs = [enc.encode("Spell 'fox'.", "f-o-x"), enc.encode("Spell 'strawberry'.", "s-t-r-a-w-b-e-r-r-y")]
    with torch.no_grad():
        together = summed_loss(a.model, collate(exs), m).item()
        alone = sum(summed_loss(a.model, collate([e]), m).item() for e in exs)
    assert together == pytest.approx(alone, rel=1e-5)

"""Example encoding (ids, shifted labels, end of turn, truncation) and batch padding."""
import json
import os

import pytest

import torch

from conftest import FIXTURES
from strawberry_torch.data import IGNORE, ExampleEncoder, collate
from strawberry_torch.models import load_tokenizer

QWEN3 = os.path.join(FIXTURES, "qwen3")


def encoder(tok, **kw):
    args = dict(chat_template=True, enable_thinking=False, thinking_capable=True, train_on_prompt=False, max_length=128, context_length=64)
    args.update(kw)
    return ExampleEncoder(tok, **args)


def test_chat_example_labels_are_the_next_token_from_the_completion_on():
    tok = load_tokenizer(QWEN3)
    e = encoder(tok).encode("Spell 'fox'.", "f-o-x")
    text = tok.apply_chat_template([{"role": "user", "content": "Spell 'fox'."}], add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert text.endswith("<think>\n\n</think>\n\n")   # Qwen3 non-thinking mode: the empty think block
    p = tok(text, add_special_tokens=False)["input_ids"]
    c = tok("f-o-x<|im_end|>", add_special_tokens=False)["input_ids"]
    assert e.prompt_ids == p and e.ids == p + c
    assert e.ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")   # the model learns to stop
    assert e.labels[: len(p) - 1] == [IGNORE] * (len(p) - 1)
    assert e.labels[len(p) - 1: -1] == e.ids[len(p):]               # label t is token t+1
    assert e.labels[-1] == IGNORE and e.targets == len(c)


def test_train_on_prompt_targets_every_next_token():
    tok = load_tokenizer(QWEN3)
    e = encoder(tok, train_on_prompt=True).encode("Spell 'fox'.", "f-o-x")
    assert e.labels[:-1] == e.ids[1:] and e.labels[-1] == IGNORE


def test_truncation_to_the_context_and_a_prompt_only_example_has_no_target():
    tok = load_tokenizer(QWEN3)
    e = encoder(tok, max_length=1000).encode("Spell 'fox'.", "f-o-x " * 40)
    assert len(e.ids) == 64   # min(max_length, max_position_embeddings)
    long_prompt = encoder(tok).encode("word " * 80, "x")
    assert long_prompt.targets == 0


def test_without_template_prompt_newline_and_eos_text():
    tok = load_tokenizer(QWEN3)
    e = encoder(tok, chat_template=False).encode("Spell 'fox'.", "f-o-x")
    assert e.prompt_ids == tok("Spell 'fox'.\n", add_special_tokens=False)["input_ids"]
    assert e.ids[len(e.prompt_ids):] == tok("f-o-x" + tok.eos_token, add_special_tokens=False)["input_ids"]


def test_thinking_flag_only_reaches_a_thinking_template():
    tok = load_tokenizer(QWEN3)
    assert "<think>" not in encoder(tok, enable_thinking=None).prompt_text("hi")   # template default: thinking on
    assert encoder(tok, thinking_capable=False).enable_thinking is None


def test_collate_right_pads_with_ignored_labels():
    tok = load_tokenizer(QWEN3)
    enc = encoder(tok)
    a, b = enc.encode("Spell 'fox'.", "f-o-x"), enc.encode("Spell 'straw'.", "s-t-r-a-w")
    batch = collate([a, b], pad_id=0)
    T = max(len(a.ids), len(b.ids))
    assert batch.input_ids.shape == (2, T)
    assert batch.attention_mask[0].tolist() == [1] * len(a.ids) + [0] * (T - len(a.ids))
    assert (batch.labels[0, len(a.ids):] == IGNORE).all()
    assert batch.targets == a.targets + b.targets and batch.tokens == len(a.ids) + len(b.ids)
    assert torch.equal(batch.labels[1, : len(b.ids)], torch.tensor(b.labels))


def test_dataset_files_are_checked_against_the_manifest(tmp_path):
    import hashlib
    from strawberry_torch.data import DataError, verify_dataset
    (tmp_path / "train.jsonl").write_text('{"prompt": "p", "completion": "c"}\n')
    sha = hashlib.sha256((tmp_path / "train.jsonl").read_bytes()).hexdigest()
    assert verify_dataset(str(tmp_path)) is False   # no manifest: used as it is
    (tmp_path / "manifest.json").write_text(json.dumps({"files": {"train.jsonl": sha}}))
    assert verify_dataset(str(tmp_path)) is True
    (tmp_path / "train.jsonl").write_text('{"prompt": "p", "completion": "C"}\n')
    with pytest.raises(DataError, match="SHA-256 differs"):
        verify_dataset(str(tmp_path))
    for files, message in (({"../outside.jsonl": sha}, "outside"), ({"gone.jsonl": sha}, "missing"), ([1], "'files'")):
        (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))
        with pytest.raises(DataError, match=message):
            verify_dataset(str(tmp_path))

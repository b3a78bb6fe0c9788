"""`strawberry-torch eval` without the Swift tool: question choice, prompts, budgets, and batched
generation that does not depend on how requests are batched."""
import json
import os

import pytest

from conftest import FIXTURES
from strawberry_torch.evaluate import EvalRequest, EvaluationError, budget, evaluate, heldout_vocab_items, load_items

QWEN3 = os.path.join(FIXTURES, "qwen3")


def request(tmp_path, data, **kw):
    args = dict(model=QWEN3, data=data, out=str(tmp_path / "ev"), device="cpu", precision="fp32", tasks=["spelling"], styles=["direct"],
                chat_template=False)
    args.update(kw)
    return EvalRequest(**args)


def generations(d):
    with open(os.path.join(d, "generations.jsonl")) as f:
        return [json.loads(x) for x in f]


def test_budgets():
    assert budget("letters", "direct", "non-thinking") == 48
    assert budget("number", "direct", "non-thinking") == 24 and budget("letter", "direct", "non-thinking") == 24
    assert budget("letters", "spell_first", "non-thinking") == 96
    assert budget("number", "direct", "thinking") == 768


def test_items_and_limit(tmp_path, handmade_data):
    r = request(tmp_path, handmade_data, tasks=["spelling", "count", "position"], styles=["direct", "spell_first"])
    items = load_items(r)
    assert len(items) == 48 and items[0].id == "test-spelling-direct-0" and items[8].style == "spell_first"
    r.limit = 3
    few = load_items(r)
    words = {i.word for i in few}
    assert len(words) == 3 and len(few) == 3 * 6   # the same words for every task and style
    with pytest.raises(EvaluationError, match="missing"):
        load_items(request(tmp_path, handmade_data, split="validation"))


def test_heldout_vocab_items(tmp_path, handmade_data):
    items = heldout_vocab_items(request(tmp_path, handmade_data, split="heldout_vocab", styles=["direct", "spell_first"]))
    assert [i.id for i in items[:4]] == [f"heldout_vocab-spelling-direct-{k}" for k in range(4)]
    assert items[0].prompt == "Spell the word 'ab' letter by letter, separated by dashes. Answer with only the spelling."
    assert items[0].gold == "a-b" and items[4].prompt.endswith("First spell the word letter by letter, then give the spelling.")
    # With --limit the kept words are deduplicated, in file order.
    limited = heldout_vocab_items(request(tmp_path, handmade_data, split="heldout_vocab", limit=10))
    assert [i.word for i in limited] == ["ab", "cd", "ef"]


def test_generations_do_not_depend_on_batching(tmp_path, handmade_data):
    a = generations(evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "b1"), batch_size=1), log=lambda s: None))
    b = generations(evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "b5"), batch_size=5), log=lambda s: None))
    assert len(a) == 8 and a == b   # left padding changes nothing for greedy decoding
    assert set(a[0]) == {"id", "mode", "sample", "output", "truncated", "output_tokens", "prompt_tokens"}
    # The budget is 48 new tokens (letters, direct); an answer that stopped early is not truncated.
    assert all(g["output_tokens"] <= 48 and (g["truncated"] or g["output_tokens"] < 48) for g in a)
    info = json.load(open(tmp_path / "b1" / "generation_info.json"))
    assert info["engine"].startswith("transformers ") and "(cpu, float32)" in info["engine"]
    assert (info["tasks"], info["modes"], info["limit"], info["chat_template"]) == (["spelling"], ["non-thinking"], None, False)
    assert info["generated_tokens"] == sum(g["output_tokens"] for g in a)


def test_thinking_samples_are_seeded_per_request(tmp_path, handmade_data, models):
    kw = dict(model=models["qwen3"], modes=["thinking"], samples=2, limit=2, chat_template=True)
    a = generations(evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "t1"), batch_size=1, **kw), log=lambda s: None))
    b = generations(evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "t4"), batch_size=4, **kw), log=lambda s: None))
    assert [(g["id"], g["sample"]) for g in a] == [(a[0]["id"], 0), (a[0]["id"], 1), (a[2]["id"], 0), (a[2]["id"], 1)]
    assert a == b
    assert a[0]["output"] != a[1]["output"]   # two samples of one question differ
    c = generations(evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "t5"), batch_size=4, seed=1, **kw), log=lambda s: None))
    assert c != a


def test_refuses_an_unrelated_output_directory(tmp_path, handmade_data):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(EvaluationError, match="did not write"):
        evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "mine")), log=lambda s: None)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # An earlier output with a file added by a person is theirs now: refused, untouched.
    done = evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "ours")), log=lambda s: None)
    (tmp_path / "ours" / "report").mkdir()
    (tmp_path / "ours" / "report" / "report.md").write_text("mine")
    with pytest.raises(EvaluationError, match="report"):
        evaluate(request(tmp_path, handmade_data, out=done), log=lambda s: None)
    assert (tmp_path / "ours" / "report" / "report.md").read_text() == "mine"
    # Without it, an earlier output (with the files `strawberry score` adds) is replaced.
    import shutil
    shutil.rmtree(tmp_path / "ours" / "report")
    (tmp_path / "ours" / "items.jsonl").write_text("")
    assert evaluate(request(tmp_path, handmade_data, out=done), log=lambda s: None) == done
    assert sorted(os.listdir(done)) == ["generation_info.json", "generations.jsonl"]


def test_bad_question_files_and_flags_are_named(tmp_path, handmade_data):
    import shutil
    data = tmp_path / "data"
    shutil.copytree(handmade_data, data)
    path = data / "eval" / "count_direct_test.jsonl"
    for bad, field in (('{"prompt": "p", "answer": "1"}', "'id'"), ("[1, 2]", "JSON object"), ('{"id": "x", "answer": "1"}', "'prompt'")):
        path.write_text(bad + "\n")
        with pytest.raises(EvaluationError, match=field):
            load_items(request(tmp_path, str(data), tasks=["count"]))
    (data / "manifest.json").write_text("{bad")
    with pytest.raises(EvaluationError, match="manifest.json"):
        heldout_vocab_items(request(tmp_path, str(data), split="heldout_vocab"))
    for kw, flag in ((dict(seed=-1), "--seed"), (dict(sample_seed=2**64), "--sample-seed"), (dict(modes=["thinking", "thinking"]), "--modes")):
        with pytest.raises(EvaluationError, match=flag):
            request(tmp_path, handmade_data, **kw).validate()
    from strawberry_torch.evaluate import find_strawberry
    with pytest.raises(EvaluationError, match="not an executable"):
        find_strawberry(str(tmp_path / "no-such-binary"))


def test_cli_without_a_binary_prints_the_score_command(tmp_path, handmade_data, monkeypatch, capsys):
    from strawberry_torch.cli import main
    monkeypatch.delenv("STRAWBERRY_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))   # no `strawberry` on it
    out = str(tmp_path / "ev")
    assert main(["eval", "--model", QWEN3, "--data", handmade_data, "--tasks", "position", "--styles", "direct", "--limit", "1",
                 "--no-chat-template", "--out", out, "--device", "cpu"]) == 0
    assert f"score later with: strawberry score {out}" in capsys.readouterr().err
    assert main(["eval", "--model", QWEN3, "--data", handmade_data, "--tasks", "nope", "--out", out, "--device", "cpu"]) == 1
    assert "--tasks: expected a comma-separated list of spelling, count, position" in capsys.readouterr().err
    # A binary named but not there is an error before any generation, not a silent skip of the scoring.
    monkeypatch.setenv("STRAWBERRY_BIN", str(tmp_path / "no-such-binary"))
    assert main(["eval", "--model", QWEN3, "--data", handmade_data, "--out", str(tmp_path / "ev2"), "--device", "cpu"]) == 1
    assert "not an executable file" in capsys.readouterr().err and not os.path.exists(tmp_path / "ev2")


def test_sampling_choices_follow_swift(tmp_path, handmade_data):
    """--sampling: auto samples thinking mode only; card samples both with the card's values per mode;
    greedy samples neither — and the request records the choice for `strawberry score`."""
    from strawberry_torch.evaluate import build_jobs, load_items
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(QWEN3)
    for sampling, expected in (("auto", {"non-thinking": (1, None), "thinking": (3, 0.6)}),
                               ("card", {"non-thinking": (3, 0.7), "thinking": (3, 0.6)}),
                               ("greedy", {"non-thinking": (1, None), "thinking": (1, None)})):
        r = request(tmp_path, handmade_data, modes=["non-thinking", "thinking"], samples=3, sampling=sampling)
        items = load_items(r)
        jobs = build_jobs(items, r, tok, thinking_capable=True)
        for mode, (n, temperature) in expected.items():
            mine = [j for j in jobs if j.mode == mode]
            assert len(mine) == n * len(items), (sampling, mode)
            temps = {None if j.request.sampling is None else j.request.sampling.temperature for j in mine}
            assert temps == {temperature}, (sampling, mode, temps)
    with pytest.raises(EvaluationError, match="--sampling"):
        request(tmp_path, handmade_data, sampling="hot").validate()
    out = evaluate(request(tmp_path, handmade_data, out=str(tmp_path / "card"), sampling="card", samples=2, limit=2), log=lambda s: None)
    info = json.load(open(os.path.join(out, "generation_info.json")))
    assert info["sampling"] == "card"
    assert sorted({g["sample"] for g in generations(out)}) == [0, 1]

"""The two engines side by side (needs the Swift binary; skipped without it): the same batch gives
the same loss and gradients, the same config trains the same run, each resumes the other's
checkpoints, adapters give the same logits, and greedy evaluation gives the same text."""
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from conftest import metrics, rel, write_config
from strawberry_torch import lora, models
from strawberry_torch.config import LoRASettings, TrainConfig
from strawberry_torch.evaluate import EvalRequest, evaluate
from strawberry_torch.gradcheck import gradient_check
from strawberry_torch.train import Options, Trainer

QUIET = Options(device="cpu", log=lambda s: None)
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the tensor's largest magnitude."""
    return float((a - b).abs().max() / max(float(a.abs().max()), float(b.abs().max()), 1e-30))


def random_b_adapter(model_path: str, directory: str, settings: LoRASettings) -> str:
    """A PEFT-format adapter with B ≠ 0 (the seeded start has B = 0, where A's gradient vanishes)."""
    loaded = models.load(model_path, device="cpu", precision="fp32")
    a = lora.attach(loaded, settings, seed=11)
    g = torch.Generator().manual_seed(5)
    a.load_values([(A.detach(), torch.randn(B.shape, generator=g) * 0.2) for A, B in a.pairs])
    a.save(directory, model_path)
    return directory


# ---- a. one batch: ids, labels, loss, gradients ------------------------------------------------

@pytest.mark.parametrize("arch", ["qwen3", "llama", "gpt2"])
def test_gradcheck_parity(arch, swift, swift_data, models, tmp_path):
    swift.require("gradcheck")
    # GPT-2's 64 learned positions cannot hold a chat-template prompt: plain prompts there.
    cfg = write_config(str(tmp_path / "c.yaml"), model=models[arch], data=swift_data, output_dir=str(tmp_path / "unused"),
                       chat_template=arch != "gpt2", lora=LORA)
    adapter = random_b_adapter(models[arch], str(tmp_path / "adapter"), LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["all-linear"]))
    for start, extra in (("seeded", []), ("adapter", ["--adapter", adapter])):
        sw, py = tmp_path / f"sw-{start}", tmp_path / f"py-{start}"
        swift("gradcheck", "--config", cfg, "--examples", "4", "--out", str(sw), *extra)
        gradient_check(TrainConfig.resolve(cfg, []), str(py), adapter=adapter if extra else None, examples=4, options=QUIET)
        a, b = json.load(open(sw / "batch.json")), json.load(open(py / "batch.json"))
        assert a["ids"] == b["ids"], "token ids differ: tokenization or chat template"
        assert a["labels"] == b["labels"] and a["targets"] == b["targets"] and a["modules"] == b["modules"]
        assert rel(a["loss"], b["loss"]) < 1e-4, (a["loss"], b["loss"])
        ga, gb = load_file(str(sw / "grads.safetensors")), load_file(str(py / "grads.safetensors"))
        assert set(ga) == set(gb)
        worst = max(ga, key=lambda k: max_rel(ga[k], gb[k]))
        assert max_rel(ga[worst], gb[worst]) < 1e-3, (worst, max_rel(ga[worst], gb[worst]))
        aa = load_file(str(sw / "adapter" / "adapter_model.safetensors"))
        ab = load_file(str(py / "adapter" / "adapter_model.safetensors"))
        # The seeded initialisation is computed identically (SplitMix64 → float32): bit for bit.
        assert set(aa) == set(ab) and all(torch.equal(aa[k], ab[k]) for k in aa)
        assert json.load(open(sw / "adapter" / "adapter_config.json")) == json.load(open(py / "adapter" / "adapter_config.json"))


# ---- b. training -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(swift, swift_data, models, tmp_path_factory):
    """One config trained by each engine (4 steps, accumulation 2, eval and checkpoints every 2)."""
    root = tmp_path_factory.mktemp("runs")
    cfg = write_config(str(root / "cfg.yaml"), model=models["qwen3"], data=swift_data, output_dir=str(root / "swift"), max_steps=4,
                       batch_size=2, gradient_accumulation_steps=2, learning_rate=1e-2, warmup_steps=1, logging_steps=1, eval_steps=2,
                       save_steps=2, save_total_limit=0, eval_samples=8, generation_check_samples=4, lora=LORA)
    swift("train", "--config", cfg)
    Trainer(TrainConfig.resolve(cfg, [f"output_dir={root / 'torch'}"]), options=QUIET).run()
    return {"cfg": cfg, "swift": str(root / "swift"), "torch": str(root / "torch"), "root": root}


def assert_same_lines(a: list, b: list, steps: list) -> None:
    a, b = {x["step"]: x for x in a}, {x["step"]: x for x in b}
    for s in steps:
        x, y = a[s], b[s]
        assert x["epoch"] == pytest.approx(y["epoch"], abs=1e-12), s
        for k in ("loss", "grad_norm", "eval_loss"):
            if x.get(k) is None or y.get(k) is None:
                assert x.get(k) is None and y.get(k) is None, (s, k, x.get(k), y.get(k))
            else:
                assert rel(x[k], y[k]) < 1e-3, (s, k, x[k], y[k])
        if "learning_rate" in x:
            assert rel(x["learning_rate"], y["learning_rate"]) < 1e-6 or x["learning_rate"] == y["learning_rate"] == 0
        assert x.get("eval_spelling_accuracy") == y.get("eval_spelling_accuracy"), s


def test_training_parity(runs):
    a, b = metrics(runs["swift"]), metrics(runs["torch"])
    assert [x["step"] for x in a] == [x["step"] for x in b] == [0, 1, 2, 3, 4]
    assert_same_lines(a, b, [0, 1, 2, 3, 4])
    for d in ("final", "best", "checkpoint-2", "checkpoint-4"):
        fa = load_file(os.path.join(runs["swift"], d, "adapter_model.safetensors"))
        fb = load_file(os.path.join(runs["torch"], d, "adapter_model.safetensors"))
        assert set(fa) == set(fb)
        worst = max(fa, key=lambda k: max_rel(fa[k], fb[k]))
        assert max_rel(fa[worst], fb[worst]) < 1e-3, (d, worst, max_rel(fa[worst], fb[worst]))
    for name in ("exp_avg", "exp_avg_sq"):
        oa = load_file(os.path.join(runs["swift"], "checkpoint-4", "optimizer.safetensors"))[name]
        ob = load_file(os.path.join(runs["torch"], "checkpoint-4", "optimizer.safetensors"))[name]
        assert oa.shape == ob.shape and max_rel(oa, ob) < 1e-3, name
    sa = json.load(open(os.path.join(runs["swift"], "checkpoint-4", "trainer_state.json")))
    sb = json.load(open(os.path.join(runs["torch"], "checkpoint-4", "trainer_state.json")))
    assert {k: v for k, v in sa.items() if k != "best_eval_loss"} == {k: v for k, v in sb.items() if k != "best_eval_loss"}
    assert rel(sa["best_eval_loss"], sb["best_eval_loss"]) < 1e-3


# ---- c. round trips --------------------------------------------------------------------------

def resumable_copy(src_run: str, dest: str) -> str:
    """A new run directory holding only src's checkpoint-2 and config (the state after step 2)."""
    os.makedirs(dest)
    shutil.copytree(os.path.join(src_run, "checkpoint-2"), os.path.join(dest, "checkpoint-2"))
    shutil.copy(os.path.join(src_run, "config.yaml"), os.path.join(dest, "config.yaml"))
    return dest


def test_backend_resumes_a_swift_checkpoint(runs):
    run = resumable_copy(runs["swift"], str(runs["root"] / "torch-from-swift"))
    # Through the command line and the config.yaml the Swift trainer wrote (its own YAML spelling).
    from strawberry_torch.cli import main
    assert main(["train", "--resume", run, "--device", "cpu"]) == 0
    assert [x["step"] for x in metrics(run)] == [3, 4]
    assert_same_lines(metrics(runs["swift"]), metrics(run), [3, 4])
    fa = load_file(os.path.join(runs["swift"], "final", "adapter_model.safetensors"))
    fb = load_file(os.path.join(run, "final", "adapter_model.safetensors"))
    assert max(max_rel(fa[k], fb[k]) for k in fa) < 1e-3


def test_swift_resumes_a_backend_checkpoint(runs, swift):
    run = resumable_copy(runs["torch"], str(runs["root"] / "swift-from-torch"))
    swift("train", "--resume", run)   # reads the config.yaml this backend wrote
    assert [x["step"] for x in metrics(run)] == [3, 4]
    assert_same_lines(metrics(runs["torch"]), metrics(run), [3, 4])
    fa = load_file(os.path.join(runs["torch"], "final", "adapter_model.safetensors"))
    fb = load_file(os.path.join(run, "final", "adapter_model.safetensors"))
    assert max(max_rel(fa[k], fb[k]) for k in fa) < 1e-3


def test_logits_of_a_backend_adapter_in_swift(runs, swift, models):
    adapter = os.path.join(runs["torch"], "final")
    prompt = "How many r's are in the word 'strawberry'?"
    out = json.loads(swift("logits", "--model", models["qwen3"], "--adapter", adapter, "--prompt", prompt, "--top", "5", "--json").stdout)
    loaded = models_module_load(models["qwen3"])
    f = lora.read_adapter(adapter, lora.linear_layers(loaded.model), loaded.model_type)
    a = lora.attach(loaded, f.settings, seed=0)
    a.load_values(f.tensors)
    assert out["prompt_ids"] == loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = a.model(input_ids=torch.tensor([out["prompt_ids"]])).logits[0, -1]
    for t in out["top"]:
        assert rel(t["logit"], float(logits[t["id"]])) < 1e-4, (t, float(logits[t["id"]]))
    assert [t["id"] for t in out["top"]] == torch.topk(logits, 5).indices.tolist()


def models_module_load(path: str) -> models.LoadedModel:
    # (the `models` fixture shadows the module's name inside the tests)
    return models.load(path, device="cpu", precision="fp32")


# ---- d. evaluation ---------------------------------------------------------------------------

@pytest.mark.parametrize("with_adapter,split", [(False, "test"), (True, "test"), (False, "heldout_vocab")])
def test_eval_parity_and_score(with_adapter, split, runs, swift, swift_data, models, tmp_path):
    swift.require("score")
    adapter = os.path.join(runs["torch"], "final") if with_adapter else None
    be, se = str(tmp_path / "backend"), str(tmp_path / "swift")
    evaluate(EvalRequest(model=models["qwen3"], data=swift_data, out=be, adapter=adapter, split=split, limit=5, batch_size=4, device="cpu",
                         precision="fp32"), log=lambda s: None)
    swift("score", be)
    swift("eval", "--model", models["qwen3"], "--data", swift_data, "--split", split, "--limit", "5", "--scoring", "generate", "--out", se,
          *(["--adapter", adapter] if adapter else []))
    assert swift("compare", se, be, "--out", str(tmp_path / "report")).returncode == 0
    gen = {(g["id"], g["mode"], g["sample"]): g for g in map(json.loads, open(os.path.join(be, "generations.jsonl")))}
    ref = {(i["id"], i["mode"], i["sample"]): i for i in map(json.loads, open(os.path.join(se, "items.jsonl")))}
    # The same --limit sample: 5 words × 3 tasks × 2 styles (heldout_vocab: its 3 tokens × 2 styles).
    assert set(gen) == set(ref) and len(gen) == (30 if split == "test" else 6)
    differ = [k for k in ref if (gen[k]["output"], gen[k]["truncated"]) != (ref[k]["output"], ref[k]["truncated"])]
    assert not differ, [(k, gen[k]["output"][:40], ref[k]["output"][:40]) for k in differ[:5]]
    scored = {(i["id"], i["mode"], i["sample"]): i for i in map(json.loads, open(os.path.join(be, "items.jsonl")))}
    assert all(scored[k]["correct"] == ref[k]["correct"] and scored[k].get("parsed") == ref[k].get("parsed") for k in ref)
    ma, mb = json.load(open(os.path.join(se, "metrics.json"))), json.load(open(os.path.join(be, "metrics.json")))
    assert mb["engine"].startswith("transformers") and ma["metrics"] == mb["metrics"]


def test_cli_eval_scores_with_the_binary(swift, swift_data, models, tmp_path):
    swift.require("score")
    from strawberry_torch.cli import main
    out = str(tmp_path / "ev")
    rc = main(["eval", "--model", models["qwen3"], "--data", swift_data, "--limit", "2", "--tasks", "count", "--styles", "direct",
               "--out", out, "--strawberry", swift.binary, "--device", "cpu"])
    assert rc == 0
    assert sorted(os.listdir(out)) == ["generation_info.json", "generations.jsonl", "items.jsonl", "metrics.json"]


def test_gguf_gradcheck_parity(swift, swift_data, tmp_path):
    """A .gguf base model: transformers' converter on this side, Strawberry's GGUF reader on the other."""
    pytest.importorskip("gguf")
    swift.require("gradcheck")
    from conftest import FIXTURES
    gguf = os.path.join(FIXTURES, "llama", "model.gguf")
    cfg = write_config(str(tmp_path / "c.yaml"), model=gguf, data=swift_data, output_dir=str(tmp_path / "unused"), chat_template=False, lora=LORA)
    adapter = random_b_adapter(gguf, str(tmp_path / "adapter"), LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["all-linear"]))
    swift("gradcheck", "--config", cfg, "--adapter", adapter, "--out", str(tmp_path / "sw"))
    gradient_check(TrainConfig.resolve(cfg, []), str(tmp_path / "py"), adapter=adapter, options=QUIET)
    a, b = json.load(open(tmp_path / "sw" / "batch.json")), json.load(open(tmp_path / "py" / "batch.json"))
    assert a["ids"] == b["ids"] and a["labels"] == b["labels"] and rel(a["loss"], b["loss"]) < 1e-4
    ga, gb = load_file(str(tmp_path / "sw" / "grads.safetensors")), load_file(str(tmp_path / "py" / "grads.safetensors"))
    assert max(max_rel(ga[k], gb[k]) for k in ga) < 1e-3


def test_modes_through_both_engines(swift, swift_data, models, tmp_path):
    """Both Qwen3 modes, greedy so the engines must agree token for token (the thinking template path
    included); the comparison's report then compares the modes."""
    swift.require("score")
    be, se = str(tmp_path / "backend"), str(tmp_path / "swift")
    evaluate(EvalRequest(model=models["qwen3"], data=swift_data, out=be, modes=["non-thinking", "thinking"], sampling="greedy", limit=3,
                         tasks=["spelling", "count"], batch_size=4, device="cpu", precision="fp32"), log=lambda s: None)
    swift("score", be)
    swift("eval", "--model", models["qwen3"], "--data", swift_data, "--mode", "both", "--sampling", "greedy", "--limit", "3",
          "--tasks", "spelling,count", "--scoring", "generate", "--out", se)
    gen = {(g["id"], g["mode"], g["sample"]): g for g in map(json.loads, open(os.path.join(be, "generations.jsonl")))}
    ref = {(i["id"], i["mode"], i["sample"]): i for i in map(json.loads, open(os.path.join(se, "items.jsonl")))}
    assert set(gen) == set(ref) and {k[1] for k in ref} == {"non-thinking", "thinking"}
    differ = [k for k in ref if (gen[k]["output"], gen[k]["output_tokens"]) != (ref[k]["output"], ref[k]["output_tokens"])]
    assert not differ, [(k, gen[k]["output"][:40], ref[k]["output"][:40]) for k in differ[:5]]
    report = str(tmp_path / "report")
    swift("compare", se, be, "--out", report)
    md = open(os.path.join(report, "report.md")).read()
    assert "## Thinking vs non-thinking mode" in md
    modes = json.load(open(os.path.join(report, "comparison.json")))["modes"]
    assert set(modes) == {"base", "finetuned"} and set(modes["finetuned"]["tasks"]) == {"spelling", "count"}

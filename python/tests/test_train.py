"""The backend's own training loop on the hand-made dataset: run files, stop and resume,
init_adapter, SIGTERM through the CLI, and gradcheck's files. (Agreement with the Swift trainer
is test_parity.py.)"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import safe_open

from conftest import FIXTURES, PY_ROOT, metrics, rel, write_config
from strawberry_torch.config import TrainConfig
from strawberry_torch.gradcheck import gradient_check
from strawberry_torch.lora import AdapterError
from strawberry_torch.train import Options, Trainer, TrainingError

QUIET = Options(device="cpu", log=lambda s: None)


def config(tmp_path, data, run="run", **extra):
    keys = dict(model=os.path.join(FIXTURES, "qwen3"), data=data, output_dir=str(tmp_path / run), max_steps=4, batch_size=2,
                gradient_accumulation_steps=2, learning_rate=1e-2, warmup_steps=1, logging_steps=1, eval_steps=2, save_steps=2,
                save_total_limit=0, eval_samples=4, generation_check_samples=2, seed=7,
                lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"})
    keys.update(extra)
    return write_config(str(tmp_path / f"{run}.yaml"), **keys)


def train(path, resume=None, stop=None, **overrides):
    cfg = TrainConfig.resolve(path, [f"{k}={v}" for k, v in overrides.items()])
    t = Trainer(cfg, resume=resume, options=QUIET)
    return t, t.run(should_stop=stop or (lambda s: False))


def test_run_directory(tmp_path, handmade_data):
    t, rc = train(config(tmp_path, handmade_data))
    run = t.config.output_dir
    assert rc == 0
    assert sorted(os.listdir(run)) == ["best", "checkpoint-2", "checkpoint-4", "config.yaml", "final", "metrics.jsonl"]
    lines = metrics(run)
    assert [x["step"] for x in lines] == [0, 1, 2, 3, 4]
    assert set(lines[0]) == {"epoch", "eval_loss", "eval_spelling_accuracy", "step"}
    assert set(lines[1]) == {"epoch", "eval_loss", "eval_spelling_accuracy", "grad_norm", "learning_rate", "loss", "step", "tokens_per_second"}
    assert lines[1]["eval_loss"] is None and lines[2]["eval_loss"] is not None
    assert lines[1]["learning_rate"] == 0.0 and lines[2]["learning_rate"] == pytest.approx(1e-2, rel=1e-6)   # warmup 1, cosine
    assert lines[4]["epoch"] == pytest.approx(8 / 16)   # 8 micro-batches of 16 per epoch
    with open(os.path.join(run, "metrics.jsonl")) as f:
        assert f.readline().startswith('{"epoch":0.0,"eval_loss":')   # compact, keys sorted
    state = json.load(open(os.path.join(run, "checkpoint-4", "trainer_state.json")))
    assert state == {"batch_in_epoch": 8, "best_eval_loss": state["best_eval_loss"], "epoch": 0, "global_step": 4, "max_steps": 4,
                     "optimizer_step": 4, "seed": 7}
    with safe_open(os.path.join(run, "checkpoint-4", "optimizer.safetensors"), "pt") as f:
        assert f.metadata()["step"] == "4"
        m = f.get_tensor("exp_avg")
    assert m.shape == (t.adapter.parameter_count,)
    # Strawberry's layout: module by module, A row-major then B row-major.
    first_a = t.optimizer.state[t.adapter.pairs[0][0]]["exp_avg"]
    assert torch.equal(m[: first_a.numel()], first_a.reshape(-1))
    with pytest.raises(TrainingError, match="already holds files"):
        train(config(tmp_path, handmade_data))


def test_stop_and_resume_retraces_the_run(tmp_path, handmade_data):
    whole, _ = train(config(tmp_path, handmade_data, run="whole"))
    cut, rc = train(config(tmp_path, handmade_data, run="cut"), stop=lambda s: s == 2)
    run = cut.config.output_dir
    assert rc == 128 + signal.SIGINT and "final" not in os.listdir(run) and "checkpoint-2" in os.listdir(run)
    _, rc = train(config(tmp_path, handmade_data, run="cut"), resume=run)
    assert rc == 0
    a, b = metrics(whole.config.output_dir), metrics(run)
    assert [x["step"] for x in b] == [0, 1, 2, 3, 4]
    for x, y in zip(a[1:], b[1:]):
        assert rel(x["loss"], y["loss"]) < 1e-6 and rel(x["grad_norm"], y["grad_norm"]) < 1e-5


def test_init_adapter_must_match_the_config(tmp_path, handmade_data):
    first, _ = train(config(tmp_path, handmade_data, run="first"))
    final = os.path.join(first.config.output_dir, "final")
    t = Trainer(TrainConfig.resolve(config(tmp_path, handmade_data, run="second", init_adapter=final), []), options=QUIET)
    assert all(torch.equal(x, y) for x, y in zip(t.adapter.state().values(), first.adapter.state().values()))
    assert t.optimizer.state == {}   # fresh optimizer
    with pytest.raises(AdapterError, match="r 4, alpha 8.0, 14 LoRA modules; the config's lora asks for r 2"):
        Trainer(TrainConfig.resolve(config(tmp_path, handmade_data, run="third", init_adapter=final), ["lora.r=2"]), options=QUIET)


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path, handmade_data):
    path = config(tmp_path, handmade_data, max_steps=100000, eval_steps=0, save_steps=0)
    env = dict(os.environ, PYTHONPATH=PY_ROOT)
    p = subprocess.Popen([sys.executable, "-m", "strawberry_torch", "train", "--config", path, "--device", "cpu"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = os.path.join(tmp_path, "run", "metrics.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.exists(log) and os.path.getsize(log) > 0):
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    steps = [int(n.split("-")[1]) for n in os.listdir(tmp_path / "run") if n.startswith("checkpoint-")]
    assert len(steps) == 1 and steps[0] >= 1 and "final" not in os.listdir(tmp_path / "run")
    assert f"resume with --resume {tmp_path / 'run'}" in err
    # The command line resumes from the run directory alone (its config.yaml), here to a nearer end.
    p = subprocess.run([sys.executable, "-m", "strawberry_torch", "train", "--resume", str(tmp_path / "run"), "--set", f"max_steps={steps[0] + 2}",
                        "--device", "cpu"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert [x["step"] for x in metrics(str(tmp_path / "run"))][-2:] == [steps[0] + 1, steps[0] + 2]
    assert "final" in os.listdir(tmp_path / "run")


def test_gradcheck_files(tmp_path, handmade_data):
    rec = gradient_check(TrainConfig.resolve(config(tmp_path, handmade_data), []), str(tmp_path / "gc"), examples=3, options=QUIET)
    assert sorted(os.listdir(tmp_path / "gc")) == ["adapter", "batch.json", "grads.safetensors"]
    b = json.load(open(tmp_path / "gc" / "batch.json"))
    assert b == rec and len(b["ids"]) == 3 and b["targets"] == sum(1 for l in b["labels"] for t in l if t >= 0)
    with safe_open(str(tmp_path / "gc" / "grads.safetensors"), "pt") as f:
        keys = list(f.keys())
        grad_b = f.get_tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
    assert len(keys) == 28 and grad_b.abs().max() > 0   # B = 0: only B has a gradient at the seeded start
    with pytest.raises(TrainingError, match="not empty"):
        gradient_check(TrainConfig.resolve(config(tmp_path, handmade_data), []), str(tmp_path / "gc"), options=QUIET)


def test_gradient_checkpointing_changes_nothing_but_memory(tmp_path, handmade_data):
    plain, _ = train(config(tmp_path, handmade_data, run="plain", max_steps=2, eval_steps=0, save_steps=0))
    cfg = TrainConfig.resolve(config(tmp_path, handmade_data, run="ckpt", max_steps=2, eval_steps=0, save_steps=0), [])
    Trainer(cfg, options=Options(device="cpu", gradient_checkpointing=True, log=lambda s: None)).run()
    for x, y in zip(metrics(plain.config.output_dir), metrics(cfg.output_dir)):
        assert rel(x["loss"], y["loss"]) < 1e-6 and rel(x["grad_norm"], y["grad_norm"]) < 1e-5

"""Data parallel on CPU (gloo): two processes launched by torchrun take alternate micro-batches
of each step; the run must equal the one-process run (rule: rank k takes micro-batches k, k+W, …,
losses scaled by the step's global target count, gradients summed before clipping)."""
import os
import subprocess
import sys

from conftest import PY_ROOT, metrics, rel
from test_train import config


def run_cli(args, procs):
    env = dict(os.environ, PYTHONPATH=PY_ROOT, OMP_NUM_THREADS="1")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 else [sys.executable]
    p = subprocess.run(launcher + ["-m", "strawberry_torch", "train", *args, "--device", "cpu"], env=env, capture_output=True, text=True, timeout=600)
    return p


def test_two_processes_equal_one(tmp_path, handmade_data):
    one = config(tmp_path, handmade_data, run="one", gradient_accumulation_steps=4, max_steps=3, eval_steps=3, save_steps=3)
    two = config(tmp_path, handmade_data, run="two", gradient_accumulation_steps=4, max_steps=3, eval_steps=3, save_steps=3)
    p1 = run_cli(["--config", one], 1)
    assert p1.returncode == 0, p1.stderr[-3000:]
    p2 = run_cli(["--config", two], 2)
    assert p2.returncode == 0, p2.stderr[-3000:]
    a, b = metrics(str(tmp_path / "one")), metrics(str(tmp_path / "two"))
    assert [x["step"] for x in a] == [x["step"] for x in b] == [0, 1, 2, 3]
    for x, y in zip(a[1:], b[1:]):
        assert rel(x["loss"], y["loss"]) < 1e-5, (x, y)
        assert rel(x["grad_norm"], y["grad_norm"]) < 1e-5, (x, y)
    assert rel(a[-1]["eval_loss"], b[-1]["eval_loss"]) < 1e-5
    # Only rank 0 wrote: one checkpoint, one final adapter.
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))


def test_fewer_micro_batches_than_processes_is_an_error(tmp_path, handmade_data):
    p = run_cli(["--config", config(tmp_path, handmade_data, gradient_accumulation_steps=1)], 2)
    assert p.returncode != 0
    assert "gradient_accumulation_steps = 1: expected at least the world size 2" in p.stderr

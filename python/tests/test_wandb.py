"""`strawberry-torch wandb-sync`: a tiny store made by the Swift tool (one training run, two evaluations, a
comparison and a deployment) exported to W&B offline, and the offline run files read back with the
`wandb` SDK's own reader (wandb.sdk.internal.datastore, the reader `wandb sync` uses; its last release with
that Python module is 0.29, which .ci/run pins). Skipped, with a message, where `wandb` is not installed."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import FIXTURES, PY_ROOT, Swift, long_context_copy, strawberry_path, write_config, _skip_or_fail  # noqa: F401

wandb = pytest.importorskip("wandb", reason="wandb is not installed (pip install wandb==0.29.0): the W&B export is not tested")
try:
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal.datastore import DataStore
except ImportError:   # wandb ≥ 0.30 moved its record reader into the Go core
    pytest.skip(f"wandb {wandb.__version__} has no Python reader of its run files (wandb.sdk.internal.datastore); "
                "install wandb==0.29.0 to run this test", allow_module_level=True)


def read_offline_run(folder: str) -> dict:
    """What an offline run file holds, through the SDK's reader: run, config, history, summary, artifacts."""
    files = glob.glob(os.path.join(folder, "run-*.wandb"))
    assert len(files) == 1, folder
    ds = DataStore()
    ds.open_for_scan(files[0])
    out: dict = {"history": [], "summary": {}, "config": {}, "artifacts": [], "run": None}
    def items(entries) -> dict:
        # An item is a key, or a nested key (a logged media object's fields: items/_type, items/path, …).
        d: dict = {}
        for i in entries:
            path = [i.key] if i.key else list(i.nested_key)
            node = d
            for k in path[:-1]:
                node = node.setdefault(k, {})
            node[path[-1]] = json.loads(i.value_json)
        return d

    while (data := ds.scan_data()) is not None:
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(data)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = rec.run
            out["config"].update(items(rec.run.config.update))
        elif kind == "config":
            out["config"].update(items(rec.config.update))
        elif kind == "history":
            out["history"].append(items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(items(rec.summary.update))
        elif kind == "artifact":
            out["artifacts"].append(rec.artifact)
    return out


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> dict:
    """A store of its own: train (4 steps), eval of the base model and of the adapter, compare, deploy."""
    binary = strawberry_path()
    if binary is None:
        _skip_or_fail("no strawberry binary: set STRAWBERRY_BIN or build .build/release/strawberry")
    root = tmp_path_factory.mktemp("wandb-store")
    swift = Swift(binary, str(root / "store"))
    model = long_context_copy("qwen3", str(root / "model"))
    words = [w for w in ["cat", "dog", "straw", "berry", "apple", "queue", "lamp", "tree", "moon", "river", "stone", "cloud",
                         "bread", "chair", "glass", "horse", "night", "plant", "sugar", "table", "water", "zebra", "kite",
                         "lemon", "mango", "olive", "pearl", "robin", "snake", "tiger", "whale", "yacht", "amber", "brisk",
                         "candle", "dragon", "eagle", "forest", "garden", "harbor", "island", "jungle", "kettle", "ladder"]]
    (root / "words.txt").write_text("\n".join(words) + "\n")
    data = str(root / "data")
    swift("data", "build", "--tokenizer", model, "--words", str(root / "words.txt"), "--validation-size", "6", "--test-size", "8", "--out", data)
    run = str(root / "run")
    cfg = write_config(str(root / "cfg.yaml"), model=model, data=data, output_dir=run, max_steps=4, batch_size=2, learning_rate=1e-2,
                       logging_steps=1, eval_steps=2, save_steps=0, eval_samples=4, generation_check_samples=2)
    swift("train", "--config", cfg)
    evals = []
    for name, extra in (("ev-base", []), ("ev-ft", ["--adapter", run + "/final"])):
        out = str(root / name)
        swift("eval", "--model", model, "--data", data, "--limit", "3", "--scoring", "generate", "--out", out, *extra)
        evals.append(out)
    report = str(root / "report")
    swift("compare", *evals, "--out", report, "--run", run)
    swift("deploy", "--evaluation-results", report, "--adapter", run + "/final", "--output-dir", str(root / "deployment"),
          "--force-deploy", "--skip-hf-push")
    runs = json.loads(swift("runs", "list", "--json").stdout)
    assert sorted(r["kind"] for r in runs) == ["compare", "deploy", "eval", "eval", "train"]
    return {"binary": binary, "store": str(root / "store"), "root": root, "runs": runs}


def sync(store: dict, folder: str, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(PYTHONPATH=PY_ROOT, STRAWBERRY_BIN=store["binary"], HOME=str(store["root"]), NETRC=os.devnull)
    p = subprocess.run([sys.executable, "-m", "strawberry_torch", "wandb-sync", store["store"], "--dir", folder, "--project", "sb-test", *extra],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def test_offline_export_reads_back_and_is_idempotent(tiny_store, tmp_path):
    folder = str(tmp_path / "wb")
    first = sync(tiny_store, folder)
    # No credentials: offline by default, and the sync line to run later.
    assert "5 exported, 0 unchanged (offline;" in first.stdout, first.stdout
    assert "wandb sync --include-offline" in first.stdout
    offline = sorted(glob.glob(os.path.join(folder, "wandb", "offline-run-*")))
    assert len(offline) == 5
    by_kind = {r["kind"] + ("-ft" if r["kind"] == "eval" and "adapter" in r["params"] else ""): r for r in tiny_store["runs"]}
    def folder_of(run_id: str) -> dict:
        [d] = [d for d in offline if d.endswith("-" + run_id)]
        return read_offline_run(d)

    train = by_kind["train"]
    t = folder_of(train["id"])
    # The W&B run: the Strawberry id, the group from the recipe (the config.yaml hash of the Hub path).
    assert t["run"].run_id == train["id"] and t["run"].job_type == "train"
    import hashlib
    recipe = hashlib.sha256(open(os.path.join(train["params"]["out"], "config.yaml"), "rb").read()).hexdigest()[:12]
    assert t["run"].run_group == f"backbone=model_recipe={recipe}"
    # Config: every parameter, the lineage hashes.
    assert t["config"]["max_steps"] == "4" and t["config"]["lineage/dataset_manifest"] == train["lineage"]["dataset_manifest"]
    # History with its steps, as metrics.jsonl has them; the summary is the last values.
    logged = [json.loads(x) for x in open(os.path.join(train["params"]["out"], "metrics.jsonl"))]
    loss_rows = [(h["_step"], h["loss"]) for h in t["history"] if "loss" in h]
    assert all("epoch" in h for h in t["history"] if "loss" in h), "read from metrics.jsonl (the store has no epoch)"
    assert loss_rows == [(r["step"], pytest.approx(r["loss"])) for r in logged if r.get("loss") is not None]
    assert t["summary"]["loss"] == pytest.approx(loss_rows[-1][1])
    # The recipe as an `architecture` artifact, and the loss chart.
    assert [(a.type, a.name) for a in t["artifacts"]] == [("architecture", f"recipe-{recipe}")]
    assert any(h.get("charts/loss_curve", {}).get("_type") == "html-file" for h in t["history"])

    ft = by_kind["eval-ft"]
    e = folder_of(ft["id"])
    assert e["run"].run_group == t["run"].run_group, "an evaluation of the adapter joins its training run's group"
    assert folder_of(by_kind["eval"]["id"])["run"].run_group == "backbone=model_base"
    summary = json.load(open(os.path.join(ft["params"]["out"], "metrics.json")))["metrics"]
    group = "count/direct/non-thinking"
    assert e["summary"][f"{group}/accuracy"] == pytest.approx(summary[group]["accuracy"])
    lo, hi = summary[group]["accuracy_ci95"]
    assert (e["summary"][f"{group}/accuracy_ci95_low"], e["summary"][f"{group}/accuracy_ci95_high"]) == (pytest.approx(lo), pytest.approx(hi))
    # The per-item records as a table: its file holds every item of items.jsonl.
    items = [json.loads(x) for x in open(os.path.join(ft["params"]["out"], "items.jsonl"))]
    [table_ref] = [h["items"] for h in e["history"] if "items" in h]
    assert table_ref["_type"] == "table-file" and table_ref["nrows"] == len(items)
    [d] = [d for d in offline if d.endswith("-" + ft["id"])]
    table = json.load(open(os.path.join(d, "files", table_ref["path"])))
    assert len(table["data"]) == len(items) and "gold" in table["columns"]
    assert e["summary"]["items_rows"] == len(items)

    deploy = folder_of(by_kind["deploy"]["id"])
    assert deploy["run"].run_group == t["run"].run_group   # deploy → compare → evaluation → training run
    assert deploy["summary"]["weighted_score"] == pytest.approx(by_kind["deploy"]["metrics"]["weighted_score"][-1]["value"])

    # A second export adds nothing: no new offline run, the ledger unchanged.
    ledger = open(os.path.join(folder, "strawberry-wandb-exports.json")).read()
    second = sync(tiny_store, folder)
    assert "0 exported, 5 unchanged" in second.stdout, second.stdout
    assert sorted(glob.glob(os.path.join(folder, "wandb", "offline-run-*"))) == offline
    assert open(os.path.join(folder, "strawberry-wandb-exports.json")).read() == ledger


def synthetic_run(root, run_id="train-20261207T000000Z-00000001", kind="train", params=None, lines=None, files=None) -> dict:
    """A run record and its folder, made here (no Swift tool): what `strawberry runs list --json` prints."""
    d = root / run_id
    d.mkdir()
    (d / "config.yaml").write_text("model: m\nlearning_rate: 0.01\nhf_token: hf_secretvalue123\n")
    (d / "metrics.jsonl").write_text("\n".join(lines if lines is not None else
                                              ['{"epoch":0.5,"loss":2.0,"step":1}', '{"epoch":1.0,"loss":1.5,"step":2}']) + "\n")
    for name, content in (files or {}).items():
        (d / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    import hashlib
    arts = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir() if p.name in ("metrics.jsonl", "metrics.json", "items.jsonl")}
    return {"id": run_id, "kind": kind, "created": 1.0, "artifacts": arts, "lineage": {"base_model": "ab" * 32}, "parents": [],
            "params": {"out": str(d), "model": "/models/SmolLM2", "learning_rate": "0.01", **(params or {})},
            "metrics": {"loss": [{"step": 1, "value": 2.0}, {"step": 2, "value": 1.5}]}}


def offline_bytes(folder) -> bytes:
    return b"".join(open(f, "rb").read() for f in glob.glob(os.path.join(str(folder), "wandb", "offline-run-*", "**", "*"), recursive=True)
                    if os.path.isfile(f))


def test_secrets_damaged_inputs_ledger_and_modes(tmp_path, monkeypatch):
    from strawberry_torch import wandb_export as we
    for k in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("NETRC", os.devnull)
    monkeypatch.setenv("HOME", str(tmp_path))
    quiet = lambda s: None  # noqa: E731
    # Secrets: never in config, artifact or any offline file; harmless names that merely contain "token" stay.
    run = synthetic_run(tmp_path, params={"hf_token": "hf_secretvalue123", "api_key": "k-secret-456", "hub_key": "hk-789",
                                          "max_new_tokens": "24", "tokenizer": "gpt2"})
    cfg = we.config_of(run)
    assert not {"hf_token", "api_key", "hub_key"} & set(cfg) and cfg["max_new_tokens"] == "24" and cfg["tokenizer"] == "gpt2"
    out = tmp_path / "wb"
    [r] = we.export([run], project="p", folder=str(out), mode="offline", log=quiet)
    assert r.action == "exported" and r.directory
    blob = offline_bytes(out)
    assert b"loss" in blob and not any(x in blob for x in (b"hf_secretvalue123", b"k-secret-456", b"hk-789"))
    # Exporting again adds nothing; to another project, or after a file changed, it exports again.
    assert [x.action for x in we.export([run], project="p", folder=str(out), mode="offline", log=quiet)] == ["unchanged"]
    assert [x.action for x in we.export([run], project="q", folder=str(out), mode="offline", log=quiet)] == ["exported"]
    with open(os.path.join(run["params"]["out"], "metrics.jsonl"), "a") as f:
        f.write('{"epoch":1.5,"loss":1.0,"step":3}\n')
    [again] = we.export([run], project="p", folder=str(out), mode="offline", log=quiet)
    assert again.action == "exported" and any("metrics.jsonl changed" in n for n in again.notes), again
    assert we.history(run)[-1][0] == 2, "a file changed since it was recorded is not this run's: the store's points are used"
    # After `publish` uploads the adapter (it records hub_publication.json beside the run), the next export puts the
    # Hub folder's URL in the W&B run's summary.
    url = "https://huggingface.co/alice/spell/tree/main/SmolLM2/abc/train-1"
    with open(os.path.join(run["params"]["out"], "hub_publication.json"), "w") as f:
        json.dump({"repo_id": "alice/spell", "path_in_repo": "SmolLM2/abc/train-1", "revision": "main", "url": url, "commit": "c0ffee"}, f)
    time.sleep(1.1)   # W&B names an offline folder by the second: the export before this one must not share it
    [pub] = we.export([run], project="p", folder=str(out), mode="offline", log=quiet)
    summary = read_offline_run(pub.directory)["summary"]
    assert pub.action == "exported" and summary.get("hub/url") == url, (pub, sorted(summary))

    bad = synthetic_run(tmp_path, run_id="train-20261207T000000Z-00000002", lines=[
        '{"step":9,"loss":' + "1" * 400 + "}", '{"step":10,"loss":' + "9" * 5000 + "}", "[" * 100000, '{"step":' + "9" * 30 + ',"loss":1}',
        '{"step":-1,"loss":1}', "not json", '{"step":3,"loss":0.5}'])
    assert we.history(bad) == [(3, {"loss": 0.5})]
    ev = synthetic_run(tmp_path, run_id="eval-20261207T000000Z-00000003", kind="eval", files={
        "items.jsonl": '{"id":"a","score":1.5,"gold":"x"}\n{"id":"b","score":NaN,"gold":["x"]}\n' + "[" * 100000 + "\n",
        "metrics.json": '{"metrics":{"count":{"accuracy":0.5,"accuracy_ci95":[0.1,0.9],"precision":[1,2]}}}'})
    cols, rows, total = we.item_rows(ev)
    assert total == 2 and cols == ["gold", "id", "score"]
    [x] = we.export([ev], project="p", folder=str(out), mode="offline", log=quiet)
    assert x.action == "exported"
    assert we.flatten_metrics({"m": {"accuracy_ci95": [0.1, 0.9], "precision": [1, 2], "decision": [0, 1]}}) == \
        {"m/accuracy_ci95_low": 0.1, "m/accuracy_ci95_high": 0.9}
    gz = synthetic_run(tmp_path, run_id="eval-20261207T000000Z-00000004", kind="eval", files={"items.jsonl.gz": b"\x1f\x8b\x08\x00garbage"})
    assert we.item_rows(gz) is None
    # A ledger this tool did not write is an error, never overwritten.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / we.LEDGER).write_text("[1, 2]")
    with pytest.raises(we.ExportError, match="not a ledger"):
        we.export([run], project="p", folder=str(tmp_path / "other"), mode="offline", log=quiet)
    assert (tmp_path / "other" / we.LEDGER).read_text() == "[1, 2]"
    # Modes: credentials → online; WANDB_MODE honoured; disabled refused (it would record runs as exported).
    monkeypatch.setenv("WANDB_API_KEY", "abc-not-a-real-key")
    assert we.resolve_mode(None) == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    assert we.resolve_mode(None) == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with pytest.raises(we.ExportError, match="disabled"):
        we.resolve_mode(None)
    with pytest.raises(we.ExportError, match="no run nope"):
        we.export([run], project="p", folder=str(out), mode="offline", only=["nope"])
    assert we.wandb_id("train-20261207T185944Z-e565f9a0") == "train-20261207T185944Z-e565f9a0"
    assert we.wandb_id("abc\n").startswith("sb-") and we.wandb_id("a/b c").startswith("sb-")


def test_training_streams_steps_live_and_export_joins_that_run(tiny_store, tmp_path):
    """`report_to: wandb` in the training config: `strawberry train` starts the follower (through
    $STRAWBERRY_TORCH), every step of metrics.jsonl reaches the W&B run as it is written, the follower
    finishes when training ends, and `wandb-sync` adds to that run instead of making a second one."""
    root = tiny_store["root"]
    wrapper = tmp_path / "strawberry-torch"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={PY_ROOT} exec {sys.executable} -m strawberry_torch \"$@\"\n")
    wrapper.chmod(0o755)
    run = str(tmp_path / "run-live")
    cfg = write_config(str(tmp_path / "cfg.yaml"), model=str(root / "model"), data=str(root / "data"), output_dir=run, max_steps=4,
                       batch_size=2, learning_rate=1e-2, logging_steps=1, eval_steps=2, save_steps=0, eval_samples=4,
                       generation_check_samples=2, report_to="wandb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(STRAWBERRY_TORCH=str(wrapper), STRAWBERRY_HOME=tiny_store["store"], HOME=str(tmp_path), NETRC=os.devnull)
    p = subprocess.run([tiny_store["binary"], "train", "--config", cfg], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    live = json.load(open(os.path.join(run, "wandb_run.json")))
    assert live["finished"] is True and live["mode"] == "offline" and live["wandb_id"].startswith("run-live-")
    [folder] = glob.glob(os.path.join(run, "wandb", "offline-run-*"))
    streamed = read_offline_run(folder)
    logged = [json.loads(x) for x in open(os.path.join(run, "metrics.jsonl"))]
    assert sorted({h["_step"] for h in streamed["history"]}) == sorted({r["step"] for r in logged})
    assert [h["loss"] for h in streamed["history"] if "loss" in h] == [pytest.approx(r["loss"]) for r in logged if r.get("loss") is not None]
    assert streamed["run"].run_group.startswith("backbone=model_recipe=")
    # The export names the training run by the streamed run's id and adds its summary and recipe, not its steps again.
    out = sync(tiny_store, str(tmp_path / "wb"))
    assert f"wandb sync --include-offline {os.path.join(run, 'wandb', 'offline-run-*')}" in out.stdout, out.stdout
    [added] = glob.glob(os.path.join(str(tmp_path / "wb"), "wandb", f"offline-run-*-{live['wandb_id']}"))
    exported = read_offline_run(added)
    assert not any("loss" in h for h in exported["history"]) and exported["summary"]["loss"] == pytest.approx(logged[-1]["loss"])
    assert [a.type for a in exported["artifacts"]] == ["architecture"]


def test_follower_logs_lines_as_they_are_written_and_stops_when_its_input_closes(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: /m/SmolLM2\nhf_token: hf_secretvalue123\n")
    (run / "metrics.jsonl").write_text('{"loss":2.0,"step":1}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(PYTHONPATH=PY_ROOT, HOME=str(tmp_path), NETRC=os.devnull)
    def start(*extra):
        return subprocess.Popen([sys.executable, "-m", "strawberry_torch", "wandb-live", str(run), "--poll", "0.1", *extra],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p = start()
    time.sleep(3)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"loss":1.5,"step":2}\n{"loss":1.2,"st')   # the second line still being written
    time.sleep(1)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('ep":3}\n')
    p.stdin.close()
    assert p.wait(timeout=120) == 0, p.stderr.read().decode()[-2000:]
    live = json.load(open(run / "wandb_run.json"))
    [folder] = glob.glob(str(run / "wandb" / "offline-run-*"))
    got = read_offline_run(folder)
    assert [(h["_step"], h["loss"]) for h in got["history"]] == [(1, 2.0), (2, 1.5), (3, 1.2)]
    assert "hf_token" not in got["config"] and got["config"]["model"] == "/m/SmolLM2"
    assert b"hf_secretvalue123" not in offline_bytes(run)
    assert live["finished"] is True and live["last_step"] == 3
    # A resumed run continues its W&B run and sends only the steps it had not streamed.
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"loss":1.1,"step":4}' + "\n")
    time.sleep(1.1)   # W&B names an offline folder by the second
    p = start("--resume")
    p.stdin.close()
    assert p.wait(timeout=120) == 0
    resumed = json.load(open(run / "wandb_run.json"))
    assert resumed["wandb_id"] == live["wandb_id"] and resumed["last_step"] == 4
    [second] = [d for d in glob.glob(str(run / "wandb" / "offline-run-*")) if d != folder]
    assert [(h["_step"], h["loss"]) for h in read_offline_run(second)["history"]] == [(4, 1.1)]
    # SIGTERM (a container stopping) ends it gracefully: the run is finished and the file says so.
    import signal
    time.sleep(1.1)
    p = start("--resume")
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=120) == 0
    assert json.load(open(run / "wandb_run.json"))["finished"] is True
    # A fresh run gets a new id.
    p = start()
    p.stdin.close()
    assert p.wait(timeout=120) == 0
    assert json.load(open(run / "wandb_run.json"))["wandb_id"] != live["wandb_id"]


def test_report_to_in_the_backend_config():
    from strawberry_torch.config import ConfigError, TrainConfig
    assert TrainConfig.resolve(None, ["report_to=wandb"]).report_to == ["wandb"]
    assert TrainConfig.resolve(None, ["report_to=[wandb, none]"]).report_to == ["wandb"]
    assert TrainConfig.resolve(None, ["report_to=none"]).report_to is None
    with pytest.raises(ConfigError, match="report_to"):
        TrainConfig.resolve(None, ["report_to=tensorboard"])
    assert "report_to" not in TrainConfig().yaml() and "report_to" in TrainConfig.resolve(None, ["report_to=wandb"]).yaml()


def test_backend_trainer_streams_with_report_to(tmp_path, handmade_data, monkeypatch):
    """The PyTorch backend's trainer starts the same follower for `report_to: wandb` and finishes it with the run."""
    pytest.importorskip("torch")
    from strawberry_torch.config import TrainConfig
    from strawberry_torch.train import Options, Trainer
    for k in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("NETRC", os.devnull)
    monkeypatch.setenv("HOME", str(tmp_path))
    run = str(tmp_path / "run")
    cfg = write_config(str(tmp_path / "cfg.yaml"), model=os.path.join(FIXTURES, "qwen3"), data=handmade_data, output_dir=run, max_steps=3,
                       batch_size=2, learning_rate=1e-2, warmup_steps=1, logging_steps=1, eval_steps=0, save_steps=0, save_total_limit=0,
                       eval_samples=4, generation_check_samples=2, report_to="wandb",
                       lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"})
    assert Trainer(TrainConfig.resolve(cfg, []), options=Options(device="cpu", log=lambda s: None)).run() == 0
    live = json.load(open(os.path.join(run, "wandb_run.json")))
    assert live["finished"] is True
    [folder] = glob.glob(os.path.join(run, "wandb", "offline-run-*"))
    logged = [json.loads(x)["step"] for x in open(os.path.join(run, "metrics.jsonl"))]
    assert sorted({h["_step"] for h in read_offline_run(folder)["history"]}) == sorted(set(logged))
    # A fresh run where that one stood (its checkpoints cleared, as after an attempt that stopped before its first
    # checkpoint) does not inherit its W&B id, tracked or not.
    import shutil
    for name in os.listdir(run):
        if name not in ("config.yaml", "metrics.jsonl", "wandb", "wandb_run.json", "wandb-live.log"):
            path = os.path.join(run, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    assert Trainer(TrainConfig.resolve(cfg, ["report_to=none"]), options=Options(device="cpu", log=lambda s: None)).run() == 0
    assert not os.path.exists(os.path.join(run, "wandb_run.json"))

"""Shared test set-up: the package from this checkout (no pip install), the tiny fixture models,
a hand-made dataset (no Swift needed), and — for the parity tests — the Swift binary and a
dataset it builds."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Optional

import pytest

PY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PY_ROOT)
REPO = os.path.dirname(PY_ROOT)
FIXTURES = os.path.join(REPO, "Tests", "Fixtures", "models")

from strawberry_torch.evaluate import has_subcommand  # noqa: E402


def strawberry_path() -> Optional[str]:
    """$STRAWBERRY_BIN, else the checkout's release build, else its debug build."""
    for cand in (os.environ.get("STRAWBERRY_BIN"), os.path.join(REPO, ".build", "release", "strawberry"),
                 os.path.join(REPO, ".build", "debug", "strawberry")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class Swift:
    """Runs the Swift tool with a private store, failing the test with its stderr on error."""

    def __init__(self, binary: str, home: str) -> None:
        self.binary, self.home = binary, home

    def has(self, sub: str) -> bool:
        return has_subcommand(self.binary, sub)

    def require(self, *subs: str) -> None:
        for s in subs:
            if not self.has(s):
                _skip_or_fail(f"{self.binary} has no `{s}` subcommand (rebuild the Swift tool)")

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, STRAWBERRY_HOME=self.home)
        p = subprocess.run([self.binary, *args], capture_output=True, text=True, env=env, timeout=600)
        if check and p.returncode != 0:
            pytest.fail(f"strawberry {' '.join(args)} exited {p.returncode}:\n{p.stderr[-3000:]}")
        return p


def _skip_or_fail(reason: str) -> None:
    """Skips a parity test that cannot run here — unless STRAWBERRY_REQUIRE_BIN is set (CI, which has
    just built the binary), where a missing binary or subcommand is a failure, not a silent pass."""
    if os.environ.get("STRAWBERRY_REQUIRE_BIN"):
        pytest.fail(reason + " (STRAWBERRY_REQUIRE_BIN is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def swift(tmp_path_factory: pytest.TempPathFactory) -> Swift:
    b = strawberry_path()
    if b is None:
        _skip_or_fail("no strawberry binary: set STRAWBERRY_BIN or build .build/release/strawberry")
    return Swift(b, str(tmp_path_factory.mktemp("store")))


def long_context_copy(arch: str, dest: str, context: int = 512) -> str:
    """A copy of a RoPE fixture with a longer context (64 does not fit chat-template prompts); the
    weights are unchanged — rotary models have no position table."""
    shutil.copytree(os.path.join(FIXTURES, arch), dest)
    p = os.path.join(dest, "config.json")
    with open(p) as f:
        c = json.load(f)
    c["max_position_embeddings"] = context
    with open(p, "w") as f:
        json.dump(c, f, indent=2)
    return dest


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {"qwen3": long_context_copy("qwen3", str(root / "qwen3")), "llama": long_context_copy("llama", str(root / "llama")),
            "gpt2": os.path.join(FIXTURES, "gpt2")}


WORDS = ["cat", "dog", "straw", "berry", "apple", "queue", "fox", "lamp", "tree", "moon", "river", "stone", "cloud", "bread",
         "chair", "glass", "horse", "night", "plant", "sugar", "table", "water", "zebra", "quiz", "jump", "kite", "lemon",
         "mango", "nest", "olive", "pearl", "robin", "snake", "tiger", "umbra", "vivid", "whale", "yacht", "amber", "brisk"]


@pytest.fixture(scope="session")
def handmade_data(tmp_path_factory: pytest.TempPathFactory) -> str:
    """train.jsonl + validation.jsonl written here (no manifest): both engines accept it as is."""
    d = tmp_path_factory.mktemp("handmade")
    def line(w: str, k: int) -> str:
        prompt = [f"Spell '{w}'.", f"How do you spell {w}?"][k % 2]
        return json.dumps({"prompt": prompt, "completion": "-".join(w)})
    with open(d / "train.jsonl", "w") as f:
        f.write("".join(line(w, k) + "\n" for k, w in enumerate(WORDS[:32])))
    with open(d / "validation.jsonl", "w") as f:
        f.write("".join(line(w, k) + "\n" for k, w in enumerate(WORDS[32:])))
    # A few questions per task and style, in the dataset's question format.
    (d / "eval").mkdir()
    ask = {"spelling": lambda w: (f"Spell '{w}'.", "-".join(w)), "count": lambda w: (f"How many a's in '{w}'?", str(w.count("a"))),
           "position": lambda w: (f"First letter of '{w}'?", w[0])}
    for task, make in ask.items():
        for style in ("direct", "spell_first"):
            with open(d / "eval" / f"{task}_{style}_test.jsonl", "w") as f:
                for i, w in enumerate(WORDS[20:28]):
                    prompt, answer = make(w)
                    f.write(json.dumps({"id": f"test-{task}-{style}-{i}", "prompt": prompt, "answer": answer, "word": w,
                                        "task": task, "style": style, "split": "test"}) + "\n")
    with open(d / "heldout_vocab.jsonl", "w") as f:
        f.write("".join(json.dumps({"word": w}) + "\n" for w in ["ab", "cd", "ef", "ab"]))
    return str(d)


@pytest.fixture(scope="session")
def swift_data(swift: Swift, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small dataset built by `strawberry data build` (300 dictionary words)."""
    root = tmp_path_factory.mktemp("swiftdata")
    words = []
    src = "/usr/share/dict/words"
    if not os.path.isfile(src):
        _skip_or_fail(f"{src} is missing (apt-get install wamerican)")
    with open(src) as f:
        for w in f:
            w = w.strip()
            if w.isascii() and w.isalpha() and w.islower() and 3 <= len(w) <= 10:
                words.append(w)
            if len(words) == 300:
                break
    (root / "words.txt").write_text("\n".join(words) + "\n")
    out = str(root / "data")
    swift("data", "build", "--tokenizer", os.path.join(FIXTURES, "qwen3"), "--words", str(root / "words.txt"),
          "--validation-size", "20", "--test-size", "30", "--out", out)
    return out


def write_config(path: str, **keys: object) -> str:
    import yaml
    with open(path, "w") as f:
        yaml.safe_dump(keys, f, sort_keys=False)
    return path


def metrics(run: str) -> list[dict]:
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(x) for x in f if x.strip()]


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)

"""The YAML config: keys, defaults, overrides and checks as TrainConfig.swift has them."""
import pytest
import yaml

from strawberry_torch.config import ConfigError, TrainConfig


def cfg(tmp_path, text, overrides=()):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return TrainConfig.resolve(str(p), list(overrides))


def test_defaults_without_a_file():
    c = TrainConfig.resolve(None, [])
    assert (c.max_steps, c.learning_rate, c.batch_size, c.lr_scheduler, c.seed, c.max_length) == (200, 2e-4, 8, "cosine", 42, 128)
    assert (c.lora.r, c.lora.alpha, c.lora.target_modules) == (16, 32.0, ["q_proj", "k_proj", "v_proj", "o_proj"])
    assert c.enable_thinking is False and c.init_adapter is None
    c.validate()


def test_unknown_keys_are_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config keys: lora\.rank, max_step"):
        cfg(tmp_path, "max_step: 5\nlora: {rank: 4}\n")
    with pytest.raises(ConfigError, match="unknown config keys: foo.bar"):
        TrainConfig.resolve(None, ["foo.bar=1"])


def test_bad_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"config batch_size = 0: expected an integer in 1\.\.\.4096"):
        cfg(tmp_path, "batch_size: 0\n").validate()
    with pytest.raises(ConfigError, match="learning_rate"):
        cfg(tmp_path, "learning_rate: 2\n").validate()
    with pytest.raises(ConfigError, match=r"lora\.dropout = 1\.0"):
        cfg(tmp_path, "lora: {dropout: 1.0}\n").validate()
    with pytest.raises(ConfigError, match="batch_size: expected an integer"):
        cfg(tmp_path, "batch_size: eight\n")
    with pytest.raises(ConfigError, match="lr_scheduler 'exp'"):
        cfg(tmp_path, "lr_scheduler: exp\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        cfg(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match="expected key=value"):
        TrainConfig.resolve(None, ["max_steps"])


def test_overrides_are_yaml_and_reach_into_lora(tmp_path):
    c = cfg(tmp_path, "lora: {r: 16, alpha: 32}\n", ["lora.r=4", "lora.target_modules=[q_proj, v_proj]", "max_steps=7",
                                                      "enable_thinking=null", "model=some/path"])
    assert (c.lora.r, c.lora.alpha, c.lora.target_modules, c.max_steps, c.enable_thinking, c.model) == (4, 32.0, ["q_proj", "v_proj"], 7, None, "some/path")
    assert cfg(tmp_path, "", ["lora.target_modules=all-linear"]).lora.target_modules == ["all-linear"]


def test_a_partial_lora_section_keeps_the_other_defaults(tmp_path):
    # As Swift's TrainConfig decodes it (TrainerTests.testConfigResolutionAndOverrides): keys a `lora`
    # mapping omits keep the config's defaults (alpha 32, q/k/v/o), whether written or set with --set.
    c = cfg(tmp_path, "lora: {r: 4}\n")
    assert (c.lora.r, c.lora.alpha, c.lora.dropout, c.lora.target_modules) == (4, 32.0, 0.05, ["q_proj", "k_proj", "v_proj", "o_proj"])
    c = cfg(tmp_path, "", ["lora.r=8"])
    assert (c.lora.r, c.lora.alpha, c.lora.target_modules) == (8, 32.0, ["q_proj", "k_proj", "v_proj", "o_proj"])


def test_reads_the_swift_written_yaml(tmp_path):
    # Swift's YAML writer spells numbers like 1e+0 and 2e-4, which YAML 1.1 (PyYAML) reads as strings.
    c = cfg(tmp_path, "num_epochs: 1e+0\nlearning_rate: 2e-4\nadam_beta2: 9.99e-1\nenable_thinking: null\n"
                      "lora:\n  r: 16\n  alpha: 3.2e+1\n  dropout: 5e-2\n  target_modules:\n  - q_proj\n  use_rslora: false\n")
    assert (c.num_epochs, c.learning_rate, c.adam_beta2, c.lora.alpha, c.lora.dropout) == (1.0, 2e-4, 0.999, 32.0, 0.05)
    assert c.enable_thinking is None


def test_resolved_yaml_round_trips(tmp_path):
    c = cfg(tmp_path, "max_steps: 3\nenable_thinking: null\n", ["lora.r=2", "init_adapter=runs/x/final"])
    text = c.yaml()
    d = yaml.safe_load(text)
    assert list(d)[:3] == ["model", "data", "output_dir"] and d["enable_thinking"] is None and d["init_adapter"] == "runs/x/final"
    assert "init_adapter" not in yaml.safe_load(TrainConfig().yaml())   # Swift omits a nil init_adapter
    again = cfg(tmp_path, text)
    assert again == c

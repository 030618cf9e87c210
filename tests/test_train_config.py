"""The ``fourm train`` config: validation messages that name the field, and set-up errors.

No DeepSpeed engine is built here (fast tests).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fourm_registry import FourmError, MaskingSpec, ModalityKind, ModalitySpec, Registry, TokenizerSpec, hookimpl
from fourm_registry.codecs import npy_codec
from fourm_registry.config import ConfigError, load_config, validate_config
from fourm_registry.training.build import resolve_modalities
from fourm_registry.training.config import TrainConfig, parse_count
from fourm_registry.training.data import restrict_roles
from fourm_registry.masking import MaskingConfig, MixtureComponent

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "train_tiny.yaml"


def minimal(**changes):
    data = {"modalities": {"inputs": ["rgb"], "targets": ["rgb", "depth"]},
            "model": {"preset": "tiny"}, "data": {"shards": "x.tar"},
            "optim": {"total_tokens": "1M"}}
    data.update(changes)
    return data


def test_example_config_validates_and_counts_parse():
    cfg = load_config(TrainConfig, EXAMPLE)
    assert cfg.modalities.all == ["rgb", "depth", "caption"]
    assert cfg.optim.total_tokens == 20_000 and cfg.optim.betas == (0.9, 0.95)
    assert cfg.deepspeed.zero_stage == "auto" and cfg.checkpoint.keep_last == 2
    assert parse_count("1.5B") == 1_500_000_000 and parse_count("5e6") == 5_000_000
    assert parse_count(250_000.0) == 250_000


@pytest.mark.parametrize("changes, field", [
    ({"optim": {}}, "optim.total_tokens"),
    ({"optim": {"total_tokens": "lots"}}, "optim.total_tokens"),
    ({"optim": {"total_tokens": 100, "warmup_tokens": 200}}, "optim"),
    ({"optim": {"total_tokens": 100, "betas": [0.9, 1.5]}}, "optim.betas"),
    ({"deepspeed": {"zero_stage": 5}}, "deepspeed.zero_stage"),
    ({"deepspeed": {"bf16": "maybe"}}, "deepspeed.bf16"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"train": {"max_nonfinite_in_a_row": 0}}, "train.max_nonfinite_in_a_row"),
    ({"model": {"preset": "huge"}}, "model.preset"),
    ({"model": None}, "(top level)"),
    ({"modalities": {"inputs": [], "targets": ["rgb"]}}, "modalities.inputs"),
    ({"modalities": {"inputs": ["rgb"], "targets": ["rgb"], "settings": {"depth": {}}}}, "modalities"),
    ({"modalities": {"inputs": ["rgb"], "targets": ["rgb"], "settings": {"rgb": {"image_size": -1}}}},
     "modalities.settings.rgb.image_size"),
    ({"checkpoint": {"keep_last": 0}}, "checkpoint.keep_last"),
    ({"optimiser": {}}, "optimiser"),
])
def test_invalid_configs_name_the_field(changes, field):
    with pytest.raises(ConfigError) as exc:
        validate_config(TrainConfig, minimal(**changes), "train.yaml")
    assert f"field '{field}'" in str(exc.value)


def test_cli_reports_invalid_config_without_traceback(tmp_path, runner, registry):
    from fourm_cli.app import build_app

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(minimal(deepspeed={"zero_stage": 7})))
    result = runner.invoke(build_app(registry), ["train", str(bad)])
    assert result.exit_code == 1
    assert "field 'deepspeed.zero_stage'" in result.output and "Traceback" not in result.output
    result = runner.invoke(build_app(registry), ["train", str(bad), "--set", "deepspeed.zero_stage=2",
                                                 "--set", "optim.lr=-1"])
    assert result.exit_code == 1 and "field 'optim.lr'" in result.output
    result = runner.invoke(build_app(registry), ["train", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_unknown_modality_and_input_only_target(registry):
    cfg = validate_config(TrainConfig, minimal(modalities={"inputs": ["rgbb"], "targets": ["rgb"]}))
    with pytest.raises(FourmError, match="Did you mean 'rgb'"):
        resolve_modalities(cfg.modalities, registry)


class _NoTokenizer:
    """A plugin whose dense modality declares no tokenizer factory."""

    @hookimpl
    def register_modalities(self, register):
        register(ModalitySpec(name="thermal", kind=ModalityKind.DENSE,
                              tokenizer=TokenizerSpec(vocab_size=64, image_size=32, patch_size=8),
                              masking=MaskingSpec(rule="uniform"), codec=npy_codec()))
        register(ModalitySpec(name="patches", kind=ModalityKind.PIXELS,
                              tokenizer=TokenizerSpec(vocab_size=1, image_size=32, patch_size=8),
                              masking=MaskingSpec(rule="uniform"), codec=npy_codec()))


def test_modality_without_tokenizer_is_refused():
    reg = Registry.build(_NoTokenizer(), allow=[])
    cfg = validate_config(TrainConfig, minimal(modalities={"inputs": ["rgb", "thermal"], "targets": ["rgb"]}))
    with pytest.raises(FourmError, match="'thermal'.*no tokenizer"):
        resolve_modalities(cfg.modalities, reg)
    cfg = validate_config(TrainConfig, minimal(modalities={"inputs": ["patches"], "targets": ["patches"]}))
    with pytest.raises(FourmError, match="targets: 'patches'.*input-only"):
        resolve_modalities(cfg.modalities, reg)
    cfg = validate_config(TrainConfig, minimal(modalities={"inputs": ["patches"], "targets": ["rgb"]}))
    _, specs = resolve_modalities(cfg.modalities, reg)  # raw pixels need no tokenizer as inputs
    assert [s.name for s in specs] == ["patches", "rgb"]


def test_roles_restrict_the_masking_mixture(registry):
    cfg = validate_config(TrainConfig, minimal(modalities={"inputs": ["rgb", "caption"], "targets": ["rgb", "depth"]}))
    reg, specs = resolve_modalities(cfg.modalities, registry)
    mixture = MaskingConfig(components=[MixtureComponent(input_alphas=0.5, target_alphas={"rgb": 2.0, "caption": 1.0})])
    comp = restrict_roles(mixture, cfg.modalities, specs).mixture()[0]
    assert comp.input_alphas == {"rgb": 0.5, "depth": 0.0, "caption": 0.5}
    assert comp.target_alphas == {"rgb": 2.0, "depth": 0.0, "caption": 0.0}
    same = validate_config(TrainConfig, minimal(modalities={"inputs": ["rgb"], "targets": ["rgb"]}))
    assert restrict_roles(mixture, same.modalities, reg.select(["rgb"])) is mixture


def test_logger_writes_tensorboard_and_falls_back_without_wandb(tmp_path, monkeypatch, capsys):
    import importlib.util

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from fourm_registry.training.config import LoggingSection
    from fourm_registry.training.tracking import RunLogger

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    log = RunLogger(LoggingSection(wandb=True, progress=False), tmp_path, True, 10, {})
    log.scalars(3, {"train/loss": 2.5, "train/loss/rgb": 2.0})
    log.close()
    assert log.wandb is None and "wandb is not installed" in capsys.readouterr().err
    events = EventAccumulator(str(tmp_path)).Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss/rgb")] == [(3, 2.0)]
    quiet = RunLogger(LoggingSection(), tmp_path / "rank1", False, 10, {})  # ranks > 0 write nothing
    quiet.scalars(1, {"x": 1.0})
    quiet.close()
    assert not (tmp_path / "rank1").exists()

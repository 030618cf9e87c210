"""User configs: YAML + --set overrides, errors that name the field path."""
from __future__ import annotations

import pytest

from fourm_registry import ConfigError, ModalitySelection, StrictModel, load_config
from fourm_registry.config import parse_overrides


class Optim(StrictModel):
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)


class Demo(StrictModel):
    optim: Optim = Optim()
    steps: int = 10


def test_yaml_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim:\n  lr: 0.001\nsteps: 5\n")
    loaded = load_config(Demo, cfg, ["optim.lr=3e-4", "steps=7"])
    assert loaded.optim.lr == 3e-4 and loaded.steps == 7


def test_wrong_type_names_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=r"field 'optim.lr': Input should be a valid number"):
        load_config(Demo, cfg)


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match=r"field 'optim.lrr': Extra inputs are not permitted"):
        load_config(Demo, None, ["optim.lrr=1"])


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_overrides(["steps"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Demo, tmp_path / "nope.yaml")


def test_modality_selection_by_list_or_mapping(registry):
    sel = ModalitySelection.model_validate({"modalities": ["rgb", "depth"]})
    assert list(sel.modalities) == ["rgb", "depth"]
    sel = ModalitySelection.model_validate({"modalities": {"depth": {"image_size": 64, "patch_size": 8}}})
    reg = sel.resolve(registry)
    assert reg.get_modality("depth").num_tokens == 64


def test_modality_selection_rejects_unknown_names_and_settings(registry):
    with pytest.raises(Exception, match="Did you mean 'depth'"):
        ModalitySelection.model_validate({"modalities": ["dpth"]}).resolve(registry)
    with pytest.raises(ConfigError, match=r"field 'modalities.depth.img_size'"):
        load_config(ModalitySelection, None, ["modalities.depth.img_size=64"])

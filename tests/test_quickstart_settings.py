"""The quickstart's settings: per-modality VQ-VAE overrides reach the tokenizers it trains."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fourm_quickstart.pipeline import Run
from fourm_quickstart.tokenizers import fresh_tokenizer
from fourm_quickstart.settings import QuickstartSettings


def test_tokenizer_overrides_reach_the_vq_config(registry) -> None:
    s = QuickstartSettings.preset("smoke")
    run = Run(Path("unused"), s, registry)
    for name, want in s.vq_overrides.items():
        config = fresh_tokenizer(run, name).model.config
        assert {k: getattr(config, k) for k in want.fields()} == want.fields()
    plain = fresh_tokenizer(run, "rgb").model.config  # not overridden: the plugin's own
    assert plain.loss == "mse" and plain.replace_dead_codes


def test_bad_overrides_are_refused_when_read() -> None:
    with pytest.raises(ValidationError, match="dense modalities"):
        QuickstartSettings(vq_overrides={"caption": {"loss": "l1"}})
    with pytest.raises(ValidationError):
        QuickstartSettings(vq_overrides={"normal": {"loss": "l2"}})
    with pytest.raises(ValidationError):
        QuickstartSettings(vq_overrides={"normal": {"vocab_size": 8}})


def test_the_demo_uses_bf16_autocast_only_where_the_cpu_has_it(monkeypatch) -> None:
    """The demo's train stage runs ``autocast: auto``; its time estimate follows what that
    resolves to (fp32 steps cost more where bf16 is emulated and so not used)."""
    from fourm_quickstart.pipeline import train_config
    from fourm_registry.training import deepspeed_config

    s = QuickstartSettings()
    assert s.autocast == "auto"
    assert train_config(Run(Path("unused"), s, _Registry()))["deepspeed"]["autocast"] == "auto"
    estimates = {}
    for native in (True, False):
        monkeypatch.setattr(deepspeed_config, "native_cpu_bf16", lambda native=native: native)
        estimates[native] = s.estimate_minutes()
    assert estimates[False] > estimates[True]
    assert QuickstartSettings.preset("fast").autocast == "off"  # the suite stays in fp32 everywhere


class _Registry:
    def with_overrides(self, _settings):
        return self


def test_tokenizers_train_side_by_side_only_where_a_fresh_process_rebuilds_the_registry(registry) -> None:
    """Spawned tokenizer workers rebuild the registry from plugin names; an injected plugin
    object cannot be loaded by name, so such a registry trains them one after another."""
    from fourm_quickstart.tokenizers import rebuild_recipe
    from fourm_registry.registry import Registry

    assert rebuild_recipe(registry) == []  # the built-ins only: a fresh Registry.build(allow=[])

    class Injected:
        """A plugin object with no hooks, as a test would register."""

    assert rebuild_recipe(Registry.build(Injected(), allow=[])) is None
    assert QuickstartSettings().vq_workers == 2
    with pytest.raises(ValidationError):
        QuickstartSettings(vq_workers=0)


def test_the_estimate_counts_tokenizers_side_by_side(monkeypatch) -> None:
    from fourm_registry.training import deepspeed_config

    monkeypatch.setattr(deepspeed_config, "native_cpu_bf16", lambda: False)
    assert QuickstartSettings(vq_workers=1).estimate_minutes() > QuickstartSettings().estimate_minutes()


def test_mixture_weights_are_checked_and_set_one_at_a_time() -> None:
    """``--set mixture.all2all=1`` changes one weight; the others keep the demo's."""
    from fourm_registry.config import parse_overrides

    base = QuickstartSettings().model_dump()
    s = QuickstartSettings.model_validate({**base, **parse_overrides(["mixture.all2all=1"])})
    assert s.mixture == {**QuickstartSettings().mixture, "all2all": 1.0}
    for bad in ({"caption2rgb": 1.0}, {"all2all": -1.0}, {"all2all": 0, "rgb2all": 0, "caption2all": 0}):
        with pytest.raises(ValidationError):
            QuickstartSettings(mixture=bad)

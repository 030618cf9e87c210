"""``model.compile``: blocks are compiled in place (names kept) and the trainer applies it."""
from __future__ import annotations

import torch

from fourm_registry.model import FourMConfig, build_model
from fourm_registry.model.blocks import compile_blocks

from ._model_helpers import make_batch, small_registry
from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

CFG = {"dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2}


def test_compiled_blocks_keep_names_and_outputs():
    registry = small_registry()
    torch.manual_seed(0)
    model = build_model(CFG, registry, ["rgb", "caption"]).eval()
    batch = make_batch(registry, ["rgb", "caption"], seed=0)
    keys, before = list(model.state_dict()), model(batch).loss
    torch._dynamo.reset()
    assert compile_blocks(model, backend="eager") == 2  # tracing only: fast, same kernels
    assert list(model.state_dict()) == keys and model.encoder[0]._compiled_call_impl is not None
    assert torch.allclose(model(batch).loss, before, atol=1e-6)


def test_compile_is_a_config_switch_the_trainer_applies(monkeypatch):
    from fourm_registry.model import blocks
    from fourm_registry.training import build

    assert FourMConfig(**CFG).compile is False and FourMConfig(**CFG, compile=True).compile is True
    calls = []
    monkeypatch.setattr(blocks, "compile_blocks", lambda model: calls.append(model) or 0)

    class Cfg:
        init = None

    family = type("F", (), {"build": staticmethod(lambda cfg, reg, specs: "model")})
    monkeypatch.setattr(build, "run_family", lambda cfg, reg: (family, FourMConfig(**CFG, compile=True)))
    assert build.build_model_for(Cfg(), None, []) == ("model", []) and calls == ["model"]

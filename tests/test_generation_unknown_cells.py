"""MaskGIT/ROAR run the decoder on the still-unknown cells only, with the full decode's logits there."""
from __future__ import annotations

import pytest
import torch

from fourm_registry import Registry
from fourm_registry.batch import ModalityBatch
from fourm_registry.generation import Generator, parse_spec
from fourm_registry.generation.fourm_adapter import FourMPredictor
from fourm_registry.model import build_model

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

SMALL = {"rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "depth": {"image_size": 32, "patch_size": 8, "vocab_size": 48}}


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=[]).with_overrides(SMALL)


@pytest.fixture(scope="module")
def model(registry):
    torch.manual_seed(0)
    return build_model({"dim": 64, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 4}, registry,
                       ["rgb", "depth"]).eval()


def rgb(b: int = 2, seed: int = 0) -> ModalityBatch:
    g = torch.Generator().manual_seed(seed)
    n = 16
    return ModalityBatch(inputs=torch.randint(0, 64, (b, n), generator=g), input_mask=torch.ones(b, n, dtype=torch.bool))


def test_decoder_runs_only_on_unknown_cells(model, registry):
    seen: list[int] = []
    hook = model.decoder[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[1]))
    try:
        out = Generator(FourMPredictor(model), registry).generate({"rgb": rgb()}, parse_spec("depth:steps=4"),
                                                                  seed=0)
    finally:
        hook.remove()
    counts = out.plans[0].counts
    unknown = [16 - sum(counts[:i]) for i in range(len(counts))]
    assert seen == unknown and unknown[0] == 16 and seen[-1] < 16


def test_unknown_cell_logits_equal_full_decode(model):
    p, full = FourMPredictor(model), FourMPredictor(model, every_cell=True)
    ctx = p.encode({"rgb": rgb(3, seed=1)})
    g = torch.Generator().manual_seed(2)
    positions = torch.stack([torch.randperm(16, generator=g)[:7].sort().values for _ in range(3)])
    a, b = p.grid_logits(ctx, "depth", positions), full.grid_logits(ctx, "depth", positions)
    assert a.shape == (3, 7, 48) and torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("spec", ["depth:steps=4,temperature=0", "depth:steps=4,temperature=1",
                                  "depth:scheme=roar,steps=8,temperature=1"])
def test_generation_unchanged_by_unknown_only_decoding(model, registry, spec):
    a = Generator(FourMPredictor(model), registry).generate({"rgb": rgb()}, parse_spec(spec), seed=3)
    b = Generator(FourMPredictor(model, every_cell=True), registry).generate({"rgb": rgb()}, parse_spec(spec), seed=3)
    assert torch.equal(a.grids["depth"], b.grids["depth"]) and bool(a.filled["depth"].all())

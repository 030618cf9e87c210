"""End to end: a tiny model with many modalities trains a few steps and generates each one."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..registry import Registry
from ..spec import ModalityKind
from .values import TINY_MODEL, prepared


def shrunk(registry: Registry, names: Sequence[str]) -> Registry:
    """``registry`` with ``names`` cut to tiny layouts (2×2 grids, short sequences, small vocabs)."""
    from ..tokens import COORD_BASE

    changes: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = registry.get_modality(name)
        if spec.kind.is_grid:
            changes[name] = {"image_size": 2 * spec.tokenizer.patch_size, "max_tokens": None,
                             "min_tokens": 0, **({} if spec.input_only else {"vocab_size": 64})}
        elif spec.kind is ModalityKind.SEQUENCE:
            changes[name] = {"max_length": min(spec.num_tokens, 16), "max_tokens": None, "min_tokens": 0,
                             "vocab_size": COORD_BASE + 64}
        else:
            changes[name] = {"max_length": min(spec.num_tokens, 4), "max_tokens": None, "min_tokens": 0}
    return registry.with_overrides(changes)


def check_train_and_generate(registry: Registry, names: Sequence[str], steps: int = 3) -> dict[str, Any]:
    """A tiny model with all ``names`` trains ``steps`` steps (finite, falling loss is not
    required), then generates every predictable modality from the first grid one (plus all
    input-only ones); returns the generated tokens per modality."""
    import torch

    from ..batch import ModalityBatch
    from ..data.collate import collate
    from ..generation import Generator, parse_spec
    from ..generation.fourm_adapter import FourMPredictor
    from ..masking import Masker, MaskingConfig
    from ..model import build_model

    reg = shrunk(registry, names)
    specs = reg.select(names)
    torch.manual_seed(0)
    model = build_model(TINY_MODEL, reg, specs)
    rng = np.random.default_rng(0)
    masker = Masker(MaskingConfig(input_tokens=(4, 24), target_tokens=(4, 24)), specs)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def sample() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in specs:
            out.update(prepared(s, rng))
        return out

    for _ in range(steps):
        loss = model(collate([masker(sample(), rng) for _ in range(2)])).loss
        assert torch.isfinite(loss), f"training {names} gave loss {loss}"
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    cond_name = next(s.name for s in specs if s.kind.is_grid and not s.input_only)
    conds = {}
    for s in specs:
        if s.name == cond_name or s.input_only:
            x = torch.from_numpy(np.asarray(prepared(s, rng)[s.name]))[None]
            conds[s.name] = ModalityBatch(inputs=x, input_mask=torch.ones(x.shape[:2], dtype=torch.bool))
    gen = Generator(FourMPredictor(model), reg)
    out: dict[str, Any] = {}
    for s in specs:
        if s.input_only or s.name == cond_name:
            continue
        res = gen.generate(conds, parse_spec(s.name), seed=0)
        if s.kind is ModalityKind.SEQUENCE:
            ids = res.sequences[s.name][0]
            assert all(0 <= t < s.tokenizer.vocab_size for t in ids), f"{s.name}: generated ids leave the vocab"
            assert len(ids) <= 2 * s.num_tokens + 2, f"{s.name}: generated {len(ids)} ids"
        else:
            ids = res.grids[s.name][0]
            assert bool(res.filled[s.name].all()), f"{s.name}: cells left ungenerated"
            assert 0 <= int(ids.min()) and int(ids.max()) < s.tokenizer.vocab_size, f"{s.name}: ids leave the vocab"
        out[s.name] = ids
    return out



"""Loading an exported model by the family its ``config.json`` names, for generation.

4M exports (no ``family`` key) load as :class:`~fourm_registry.model.FourM`, cross-fused ones
(``fourm merge --method cross``) as :class:`~.cross_model.FourMCross` — both generate through
the 4M predictor; a plugin family loads and generates through its own ``load``/``generator``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import FourmError
from .plan import family_loader, read_config


def load_predictor(checkpoint: str | Path, registry: Any, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, token predictor)`` for ``fourm generate``."""
    from ..generation.fourm_adapter import FourMPredictor

    path = Path(checkpoint)
    config = read_config(path)
    family = config.get("family") if isinstance(config, dict) else None
    if family in (None, "4m"):  # 4M exports and whatever FourM.from_pretrained converts (released 4M)
        from ..model import FourM

        model = FourM.from_pretrained(path, registry, device=device)
        return model, FourMPredictor(model)
    model = family_loader(family, registry)(path, registry).to(device)
    if family == "4m-cross":
        return model, FourMPredictor(model)
    spec = registry.get_family(family)
    if spec.generator is None:
        raise FourmError(f"{path} is a {family!r} model, a family that cannot generate with fourm generate.")
    return model, spec.generator(model)

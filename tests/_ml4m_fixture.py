"""The ml-4m model fixture (``$FOURM_ML4M_FIXTURES/fm-small``, default ``tests/fixtures/ml4m``):
its files, its cases as ml-4m mod_dicts, and the loaded model, shared by the test modules."""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from fourm_registry import Registry
from fourm_registry.model import FourM

ROOT = Path(os.environ.get("FOURM_ML4M_FIXTURES", Path(__file__).parent / "fixtures" / "ml4m"))
FM = ROOT / "fm-small"
ATOL, LOSS_REL, MARGIN = 1e-4, 1e-5, 1e-3  # the fixture README's tolerances
META = json.loads((FM / "cases.json").read_text())
CASES = META["cases"]


def kind_of(case: str) -> str:
    text = CASES[case]["kind"]
    for kind in ("FourM.forward", "maskgit", "autoregressive"):
        if kind in text:
            return kind
    return "unknown"


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FM / "cases.npz") as z:
        return {k: z[k] for k in z.files}


def inputs(case: str) -> dict[str, dict[str, torch.Tensor]]:
    """``<case>.in.<domain>.<field>`` arrays as an ml-4m mod_dict (in mod_dict_order if recorded)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in arrays().items():
        if key.startswith(f"{case}.in."):
            domain, field = key[len(case) + 4:].rsplit(".", 1)
            out.setdefault(domain, {})[field] = torch.from_numpy(value)
    order = CASES[case].get("mod_dict_order") or sorted(out)
    return {d: out[d] for d in order}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.build(allow=[])


@pytest.fixture(scope="module")
def model(registry: Registry) -> FourM:
    return FourM.from_pretrained(FM, registry).eval()


def sizes_of(model: FourM) -> dict[str, dict]:
    """The loaded model's token layout, for a registry the generator plans with."""
    fields = ("vocab_size", "image_size", "patch_size", "max_length")
    return {n: {f: getattr(s.tokenizer, f) for f in fields if getattr(s.tokenizer, f) is not None}
            for n, s in model.specs.items()}

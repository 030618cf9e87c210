"""Loading checkpoint files without unpickling arbitrary objects.

DeepSpeed's checkpoint engine calls ``torch.load`` with full unpickling: a crafted
``mp_rank_00_model_states.pt`` would run code on resume. :func:`safe_deepspeed_loads`
swaps the engine's loader for ``torch.load(weights_only=True)`` with an allow-list of the
few plain classes DeepSpeed stores (loss scaler, ZeRO stage enum, fragment addresses);
anything else is refused with one line naming the file and the global it wanted.
"""
from __future__ import annotations

import importlib
import pickle
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..errors import FourmError

# (module, attribute) pairs DeepSpeed writes into model/optimizer states: data holders only.
_DEEPSPEED_GLOBALS = [
    ("deepspeed.runtime.fp16.loss_scaler", "LossScaler"),
    ("deepspeed.runtime.fp16.loss_scaler", "DynamicLossScaler"),
    ("deepspeed.runtime.zero.config", "ZeroStageEnum"),
    ("deepspeed.utils.tensor_fragment", "fragment_address"),
]


class UnsafeCheckpointError(FourmError):
    """A checkpoint file that is not a plain tensor/number/string container."""


def allowed_globals() -> list[Any]:
    out = []
    for module, name in _DEEPSPEED_GLOBALS:
        try:
            obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(obj, type):
            out.append(obj)
    return out


def check_torch_file(path: str | Path) -> None:
    """Refuse missing, empty and non-zip (legacy pickle or garbage) files before torch sees them."""
    p = Path(path)
    if not p.is_file():
        raise FourmError(f"{p}: missing")
    if p.stat().st_size == 0:
        raise FourmError(f"{p}: empty file (0 bytes; a crash while writing?)")
    if not zipfile.is_zipfile(p):
        raise FourmError(f"{p}: not a torch zip archive (corrupt, or a legacy pickle file fourm will not load)")


def safe_torch_load(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True`` and DeepSpeed's plain classes allowed."""
    check_torch_file(path)
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted = str(exc).split("\n")
        hint = next((line.strip() for line in wanted if "GLOBAL" in line or "Unsupported" in line), wanted[0])
        hint = hint.split(". Please", 1)[0].split(" was not an allowed", 1)[0]
        raise UnsafeCheckpointError(f"{path}: refused to load: it holds an object fourm does not unpickle "
                                    f"({hint[:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise FourmError(f"{path}: unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None


@contextmanager
def safe_deepspeed_loads(engine: Any) -> Iterator[None]:
    """Make ``engine.load_checkpoint`` read every file through :func:`safe_torch_load`."""
    ce = getattr(engine, "checkpoint_engine", None)
    if ce is None:
        yield
        return
    own = "load" in vars(ce)
    original = ce.load

    def load(path: str, map_location: Any = None) -> Any:
        return safe_torch_load(path, map_location=map_location)

    ce.load = load
    try:
        yield
    finally:
        if own:
            ce.load = original
        else:
            del ce.load  # the class's method again

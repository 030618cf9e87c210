"""Fine-tuning from a released 4M model: ``fourm train --init <ml-4m dir or Hub id>``.

The trainer asks two things of ``--init``: what it exported (model config + modality records,
as fourm's ``config.json`` holds them) and its weights. For an ml-4m directory both come from
the model :mod:`.model` builds from the official files, loaded once per process. Released
modalities keep their weights; modalities the run adds get fresh embeddings (as 4M-21 started
from 4M-7); the image decoders' unused ``token_emb`` is not carried over.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_LOADED: dict[str, Any] = {}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def local_dir(path: str | Path) -> Path:
    """``path``, or for a Hub id (``EPFL-VILAB/4M-7_B_CC12M``) its local snapshot (cache or download)."""
    p = Path(path)
    if p.exists() or not _HUB_ID.match(str(path)):
        return p
    from ...model.persistence import resolve

    return resolve(str(path))


def is_official_dir(path: str | Path) -> bool:
    from .model import is_official_config

    cfg = local_dir(path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        data = json.loads(cfg.read_text())
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("format") is None and is_official_config(data)


def official_model(path: str | Path, registry: Any) -> Any:
    """The released model at ``path`` as a fourm :class:`FourM` (cached per path)."""
    key = str(local_dir(path).resolve())
    if key not in _LOADED:
        from ...model import FourM

        _LOADED[key] = FourM.from_pretrained(key, registry)
    return _LOADED[key]


def exported_config(path: str | Path, registry: Any) -> dict[str, Any]:
    """What fourm's ``config.json`` would say for the released model at ``path``."""
    from ...model.persistence import modality_record

    model = official_model(path, registry)
    return {"model": model.config.model_dump(mode="json"),
            "modalities": {n: modality_record(s) for n, s in model.specs.items()}}


def merge_parent(path: str | Path, registry: Any) -> tuple[Path, dict[str, Any], Any]:
    """A released model as ``fourm merge`` reads a parent: its directory, a fourm-style config, the model."""
    return local_dir(path), {"family": "4m", **exported_config(path, registry)}, official_model(path, registry)


def initial_state(path: str | Path, registry: Any) -> dict[str, Any]:
    """Its weights under fourm's names (tied pairs under both names, as ``state_dict`` gives them)."""
    return dict(official_model(path, registry).state_dict())

"""Writing ``fourm generate`` results: per sample a PNG per generated modality, one grid PNG of
inputs and outputs, sequences as text and JSON, raw token ids as ``tok_<name>.npy``.

Everything goes into a temporary sibling directory that is renamed into place at the end,
so an interrupted run leaves nothing half-written.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import FourmError
from ..spec import ModalitySpec
from .generator import GenerationResult
from .inputs import Condition
from .pictures import draw_value, make_grid, pick_background, placeholder, takes_background


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse (before any compute) to clobber a non-empty directory unless asked to."""
    if out.exists() and not out.is_dir():
        raise FourmError(f"--out {out} exists and is not a directory.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FourmError(f"--out {out} is not empty; pass --overwrite to replace it.")
    above = next((p for p in out.parents if p.exists()), None)  # missing parents are created at the end
    if above is not None and not above.is_dir():
        raise FourmError(f"--out {out}: {above} is a file, not a directory.")


@contextmanager
def staged_dir(out: Path) -> Iterator[Path]:
    """A temp dir beside ``out``, moved to ``out`` only if the block finishes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def _decode(tokenizer: Any, arrays: Sequence[Any]) -> list[Any] | None:
    if tokenizer is None:
        return None
    return tokenizer.decode(list(arrays))


def _text_of(spec: ModalitySpec, tokenizer: Any, ids: Sequence[int], value: Any) -> str:
    if tokenizer is not None and hasattr(tokenizer, "decode_text"):
        return tokenizer.decode_text(list(ids))
    return spec.to_text(value) if spec.to_text is not None and value is not None else ""


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _input_values(conds: Mapping[str, Condition], tokenizers: Mapping[str, Any]) -> dict[str, Any]:
    """Raw values of the (untagged) inputs; token inputs are decoded when a tokenizer exists."""
    out: dict[str, Any] = {}
    for key, c in conds.items():
        if "@" in key:
            continue
        if c.value is not None:
            out[key] = c.value
        elif c.tokens is not None and tokenizers.get(c.spec.name) is not None:
            arr = c.tokens.reshape(c.spec.tokenizer.grid) if c.spec.kind.is_grid else c.tokens
            out[key] = tokenizers[c.spec.name].decode([arr])[0]
    return out


def _pictures(values: Mapping[str, Any], specs: Mapping[str, ModalitySpec],
              grid_names: Sequence[str], seed: Mapping[str, Image.Image] | None = None,
              ) -> dict[str, Image.Image]:
    """Draw every value; overlay drawers go last so they can use the others as background."""
    pics: dict[str, Image.Image] = dict(seed or {})
    order = sorted(values, key=lambda n: takes_background(specs[n].draw))
    for name in order:
        spec = specs[name]
        bg = pick_background(spec, pics, grid_names)
        pics[name] = draw_value(spec, values[name], background=bg)
    return {n: pics[n] for n in values}


def write_results(out: Path, result: GenerationResult, conds: Mapping[str, Condition],
                  specs: Mapping[str, ModalitySpec], tokenizers: Mapping[str, Any],
                  meta: Mapping[str, Any]) -> list[Path]:
    """Decode and write everything for each sample into ``out`` (already staged); return the
    sample directories."""
    inputs = _input_values(conds, tokenizers)
    targets = list(dict.fromkeys([*result.grids, *result.sequences]))
    batch = next(iter(result.grids.values())).shape[0] if result.grids else len(
        next(iter(result.sequences.values())))
    grid_names = [n for n in [*inputs, *targets] if specs[n].kind.is_grid]
    decoded: dict[str, list[Any] | None] = {}
    token_arrays: dict[str, list[np.ndarray]] = {}
    for name in targets:
        spec = specs[name]
        if name in result.grids:
            arrays = [g.reshape(spec.tokenizer.grid).cpu().numpy() for g in result.grids[name]]
        else:
            arrays = [np.asarray(ids, dtype=np.int64) for ids in result.sequences[name]]
        token_arrays[name] = arrays
        decoded[name] = _decode(tokenizers.get(name), arrays)
    in_pics = _pictures(inputs, specs, grid_names)
    sample_dirs = []
    for i in range(batch):
        d = out / f"sample_{i:03d}"
        d.mkdir(parents=True)
        values = {n: decoded[n][i] for n in targets if decoded[n] is not None}
        out_pics = _pictures(values, specs, grid_names, seed=in_pics)
        sequences: dict[str, Any] = {}
        for name in targets:
            np.save(d / f"tok_{name}.npy", token_arrays[name][i], allow_pickle=False)
            out_pics.setdefault(name, placeholder(f"{name}: no tokenizer to decode"))
            out_pics[name].save(d / f"{name}.png")
            if name in result.sequences:
                ids = result.sequences[name][i]
                text = _text_of(specs[name], tokenizers.get(name), ids, values.get(name))
                (d / f"{name}.txt").write_text(text + "\n")
                sequences[name] = {"text": text, "ids": list(map(int, ids)),
                                   "value": _jsonable(values.get(name))}
        if sequences:
            (d / "sequences.json").write_text(json.dumps(sequences, indent=2) + "\n")
        tiles = [(f"input: {n}", in_pics[n]) for n in inputs]
        tiles += [(f"generated: {n}", out_pics[n]) for n in targets]
        make_grid(tiles).save(d / "grid.png")
        sample_dirs.append(d)
    (out / "generation.json").write_text(json.dumps(_jsonable(dict(meta)), indent=2) + "\n")
    return sample_dirs

"""Token shards in ml-4m's per-modality layout, from shards that ``fourm tokenize`` wrote.

ml-4m reads pre-computed tokens from ``ROOT/<domain>/shard-NNNNN.tar`` (one folder per
modality, named by its ml-4m domain), each member ``<key>.npy`` an int16 ``n_crops × N`` array
(``save_vq_tokens.py``; here one crop). Shard numbers and keys follow the fourm shards, so
every modality's shards stay aligned sample by sample, as ml-4m requires.
"""
from __future__ import annotations

import contextlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FourmError
from ...shards import TOKEN_PREFIX, expand_shards, read_samples
from .domains import domain_name


def _domain(spec: Any, grid: tuple[int, ...]) -> str:
    """The ml-4m name at the size tokenised: grid side × the spec's image pixels per token."""
    if spec.tokenizer.grid is not None and tuple(grid) != spec.tokenizer.grid:
        spec = spec.with_overrides(image_size=int(grid[0]) * spec.tokenizer.patch_size)
    return domain_name(spec)


def _member(key: str, tokens: np.ndarray) -> tuple[tarfile.TarInfo, bytes]:
    buf = io.BytesIO()
    np.save(buf, np.asarray(tokens).reshape(1, -1).astype(np.int16))
    data = buf.getvalue()
    info = tarfile.TarInfo(f"{key}.npy")
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    return info, data


def export_ml4m_tokens(shards: str | os.PathLike, registry: Any, out: str | os.PathLike) -> dict[str, int]:
    """Write ``OUT/<domain>/shard-NNNNN.tar`` for every grid modality with ``tok_*`` arrays.

    Returns ``{domain: samples written}``. A token id that does not fit int16 (ml-4m's
    dtype) is an error.
    """
    root = Path(out)
    counts: dict[str, int] = {}
    paths = expand_shards(str(shards))
    for index, shard in enumerate(paths):
        writers: dict[str, tuple[tarfile.TarFile, Path, Path]] = {}
        with contextlib.ExitStack() as stack:  # an error leaves only *.tmp files behind
            for sample in read_samples(shard, registry):
                for field, tokens in sample.items():
                    if not field.startswith(TOKEN_PREFIX):
                        continue
                    name = field[len(TOKEN_PREFIX):]
                    spec = registry.get_modality(name)
                    arr = np.asarray(tokens)
                    if spec.tokenizer.grid is None or arr.ndim != 2:
                        continue  # sequences stay text in ml-4m's layout
                    if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(np.int16).max):
                        raise FourmError(f"{shard}: tok_{name} ids do not fit ml-4m's int16 token files.")
                    domain = _domain(spec, arr.shape)
                    if domain not in writers:
                        final = root / domain / f"shard-{index:05d}.tar"
                        final.parent.mkdir(parents=True, exist_ok=True)
                        tmp = final.with_suffix(".tar.tmp")
                        tar = stack.enter_context(tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT))
                        writers[domain] = (tar, tmp, final)
                    info, data = _member(str(sample["__key__"]), arr)
                    writers[domain][0].addfile(info, io.BytesIO(data))
                    counts[domain] = counts.get(domain, 0) + 1
        for _, tmp, final in writers.values():
            os.replace(tmp, final)
    return counts

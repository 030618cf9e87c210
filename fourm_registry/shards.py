"""Reading and writing webdataset shards through each modality's codec.

A sample is ``{"__key__": key, <modality>: raw value, "tok_<modality>": int array, …}``.
In a tar a sample is the members ``<key>.<modality>.<ext>``; token arrays are
``<key>.tok_<modality>.npy``. Fields that are not modalities pass through generically:
a dict/list ``<name>`` is stored as ``<key>.<name>.json`` and a str as ``<key>.<name>.txt``
(and decoded back to the same field), bytes are stored under their own suffix. Shards are
written atomically: to a temporary name, then renamed, so a killed job never leaves a
half-written shard behind.
"""
from __future__ import annotations

import glob
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import braceexpand
import numpy as np
import webdataset as wds

from .errors import FourmError

TOKEN_PREFIX = "tok_"


def expand_shards(spec: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Shard spec → sorted tar paths: brace patterns, globs, directories (``*.tar`` inside)."""
    specs = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    out: list[str] = []
    for s in specs:
        for pattern in braceexpand.braceexpand(str(s)):
            p = Path(pattern)
            if p.is_dir():
                out.extend(sorted(str(x) for x in p.glob("*.tar")))
            elif any(ch in pattern for ch in "*?["):
                out.extend(sorted(glob.glob(pattern)))
            else:
                out.append(pattern)
    missing = [p for p in out if not Path(p).is_file()]
    if missing:
        raise FourmError(f"Shard(s) not found: {', '.join(missing[:5])}"
                         + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
    if not out:
        raise FourmError(f"No shards match {spec!r}.")
    return out


@dataclass
class ReadStats:
    """What reading skipped, so a caller can report it instead of silently losing data."""

    samples: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def decode_member(registry: Any, suffix: str, data: bytes) -> tuple[str, Any]:
    """One tar member → ``(field name, value)``.

    Modalities decode through their codec; other ``<name>.json`` / ``<name>.txt`` members
    become a decoded ``name`` field; anything else is returned as raw bytes under its suffix.
    """
    stem = suffix.split(".", 1)[0]
    if stem.startswith(TOKEN_PREFIX) and suffix.endswith(".npy"):
        return stem, np.load(io.BytesIO(data), allow_pickle=False)
    if stem in registry.modalities:
        spec = registry.modalities[stem]
        if suffix != f"{stem}.{spec.codec.extension}":
            raise ValueError(f"member '{suffix}' does not match codec extension "
                             f"'{spec.codec.extension}' of modality {stem!r}")
        return stem, spec.codec.decode(data)
    if suffix == f"{stem}.json":  # generic metadata field, e.g. camera intrinsics
        return stem, json.loads(data.decode("utf-8"))
    if suffix == f"{stem}.txt":
        return stem, data.decode("utf-8")
    return suffix, data


def decode_sample(registry: Any, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw webdataset dict (``__key__`` + suffix → bytes) → decoded sample; raises ValueError."""
    key = raw.get("__key__", "?")
    out: dict[str, Any] = {"__key__": key}
    for suffix, data in raw.items():
        if suffix.startswith("__"):
            continue
        try:
            name, value = decode_member(registry, suffix, data)
        except Exception as exc:
            raise ValueError(f"sample {key!r}, member {suffix!r}: {type(exc).__name__}: {exc}") from exc
        out[name] = value
    return out


def encode_sample(registry: Any, sample: Mapping[str, Any]) -> dict[str, Any]:
    """Decoded sample → webdataset dict ready for ``TarWriter.write``."""
    key = str(sample["__key__"])
    if "." in key:
        raise ValueError(f"sample key {key!r} must not contain '.' (webdataset splits on it)")
    raw: dict[str, Any] = {"__key__": key}
    for name, value in sample.items():
        if name.startswith("__"):
            continue
        if name.startswith(TOKEN_PREFIX):
            buf = io.BytesIO()
            np.save(buf, np.asarray(value), allow_pickle=False)
            raw[f"{name}.npy"] = buf.getvalue()
        elif name in registry.modalities:
            spec = registry.modalities[name]
            raw[f"{name}.{spec.codec.extension}"] = spec.codec.encode(value)
        elif isinstance(value, bytes):
            raw[name] = value  # already encoded member, e.g. "jpg" from img2dataset
        elif isinstance(value, str):
            raw[f"{name}.txt"] = value.encode("utf-8")
        elif isinstance(value, dict | list):
            raw[f"{name}.json"] = json.dumps(value, sort_keys=True).encode("utf-8")
        else:
            raise ValueError(f"sample {key!r}: {name!r} is not a registered modality, and "
                             f"{type(value).__name__} is not bytes, str, dict or list")
    return raw


def iter_raw(urls: list[str], stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """Raw webdataset samples from ``urls`` in order; unreadable tar members are counted."""

    def handler(exn: Exception) -> bool:
        if stats is not None:
            stats.skip(f"unreadable member: {type(exn).__name__}")
        return True  # keep going

    ds = wds.WebDataset(urls, shardshuffle=False, handler=handler, empty_check=False)
    yield from ds


def read_samples(
    shards: str | os.PathLike | Iterable[str], registry: Any = None, *,
    modalities: Iterable[str] | None = None, on_error: str = "skip", stats: ReadStats | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one dict per sample with each modality decoded to its raw value by its plugin codec.

    ``shards``: a tar path, a directory (its ``*.tar``), a glob or a brace pattern
    (``data/train-{000000..000009}.tar``), or a list of those; read in sorted order.
    Each sample has ``__key__``, one field per modality member (the value type each plugin
    declares in ``ModalitySpec.value``; ``fourm modalities`` lists them), ``tok_<modality>``
    int arrays where present, generic ``<name>.json``/``<name>.txt`` members decoded to
    ``name`` (dict/list or str, e.g. camera intrinsics), and other members as raw bytes.
    ``modalities`` (optional) lists fields a sample must have (raw or ``tok_`` names);
    incomplete or undecodable samples are skipped and counted in ``stats`` (``on_error="skip"``)
    or raise :class:`FourmError` (``on_error="raise"``). ``registry`` defaults to the
    application registry (all installed plugins).
    """
    if registry is None:
        from .registry import get_registry

        registry = get_registry()
    required = set(modalities or ())
    stats = stats if stats is not None else ReadStats()
    for raw in iter_raw(expand_shards(shards), stats):
        try:
            sample = decode_sample(registry, raw)
            missing = required - set(sample)
            if missing:
                raise ValueError(f"sample {sample['__key__']!r} lacks {sorted(missing)}")
        except ValueError as exc:
            if on_error == "raise":
                raise FourmError(str(exc)) from exc
            stats.skip(str(exc).split(":", 1)[-1].strip()[:80])
            continue
        stats.samples += 1
        yield sample


class AtomicShardWriter:
    """Write one tar shard under a temporary name; rename to ``path`` only on clean close."""

    def __init__(self, path: str | os.PathLike, registry: Any = None):
        if registry is None:
            from .registry import get_registry

            registry = get_registry()
        self.registry = registry
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._stream = open(self.tmp, "wb")
        self._tar = wds.TarWriter(self._stream)
        self.count = 0

    def write(self, sample: Mapping[str, Any]) -> None:
        self._tar.write(encode_sample(self.registry, sample))
        self.count += 1

    def close(self) -> None:
        self._tar.close()  # also closes the stream
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._tar.close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicShardWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

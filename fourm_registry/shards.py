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
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import braceexpand
import numpy as np
import webdataset as wds

from .codecs import check_sizes_agree, check_value, strict_json_loads
from .errors import FourmError
from .limits import DEFAULT_LIMITS, ReadLimits, check_member, limits_from
from .tarread import ShardError, clean_name, iter_tar_samples

TOKEN_PREFIX = "tok_"
log = logging.getLogger("fourm.data")


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
    """What reading skipped, so a caller can report it instead of silently losing data.

    ``skipped`` counts samples; ``reasons`` also lists ignored members and unreadable shards
    (``bad_shards``), which are not samples.
    """

    samples: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    bad_shards: int = 0

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.note(reason)

    def note(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def problem(self, reason: str, detail: str, is_sample: bool) -> None:
        """The :data:`~fourm_registry.tarread.Problem` callback of the tar reader."""
        log.debug("%s", detail)
        (self.skip if is_sample else self.note)(reason)


class BadSample(ValueError):
    """A sample that cannot be decoded: ``str()`` names file, key and member; ``reason`` is
    the short, countable form (no key) kept in :class:`ReadStats`."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.reason = reason[:100]


def decode_member(registry: Any, suffix: str, data: bytes,
                  limits: ReadLimits = DEFAULT_LIMITS) -> tuple[str, Any]:
    """One tar member → ``(field name, value)``, after header-level size checks.

    Modalities decode through their codec; other ``<name>.json`` / ``<name>.txt`` members
    become a decoded ``name`` field; a bare ``<ext>`` member (``jpg`` from img2dataset) is
    returned as raw bytes. Any other name (``a.b.c.npy``) is refused, never guessed.
    """
    check_member(suffix, data, limits)
    stem = suffix.split(".", 1)[0]
    if stem.startswith(TOKEN_PREFIX):
        if suffix != f"{stem}.npy":
            raise ValueError(f"token member '{suffix}' must be named '{stem}.npy'")
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if arr.dtype.kind not in "iu":
            raise ValueError(f"token ids must be integers, got dtype {arr.dtype}")
        return stem, arr
    if stem in registry.modalities:
        spec = registry.modalities[stem]
        if suffix != f"{stem}.{spec.codec.extension}":
            raise ValueError(f"member '{suffix}' does not match codec extension "
                             f"'{spec.codec.extension}' of modality {stem!r}")
        return stem, check_value(spec, spec.codec.decode(data))
    if suffix.count(".") > 1:
        raise ValueError(f"member name '{suffix}' is neither '<field>.<ext>' nor a modality's "
                         "'<modality>.<codec extension>' (a key must not contain '.')")
    if suffix == f"{stem}.json":  # generic metadata field, e.g. camera intrinsics
        return stem, strict_json_loads(data)
    if suffix == f"{stem}.txt":
        return stem, data.decode("utf-8")
    return suffix, data


def decode_sample(registry: Any, raw: Mapping[str, Any], limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """A raw sample dict (``__key__`` + suffix → bytes) → decoded sample; raises ValueError."""
    key = raw.get("__key__", "?")
    where = f"{raw['__url__']}, " if raw.get("__url__") else ""
    out: dict[str, Any] = {"__key__": key}
    for suffix, data in raw.items():
        if suffix.startswith("__"):
            continue
        try:
            name, value = decode_member(registry, suffix, data, limits)
        except Exception as exc:
            raise BadSample(f"{where}sample {key!r}, member {suffix!r}", f"{suffix}: {exc}") from exc
        if name in out:
            raise BadSample(f"{where}sample {key!r}", f"two members decode to field {name!r}")
        out[name] = value
    try:
        check_sizes_agree(registry, out)
    except ValueError as exc:
        raise BadSample(f"{where}sample {key!r}", str(exc)) from None
    return out


def encode_sample(registry: Any, sample: Mapping[str, Any]) -> dict[str, Any]:
    """Decoded sample → webdataset dict ready for ``TarWriter.write``."""
    key = str(sample["__key__"])
    if "." in key.rsplit("/", 1)[-1]:
        raise ValueError(f"sample key {key!r} must not contain '.' (webdataset splits on it)")
    clean_name(key)  # refuses absolute and '..' keys
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


def iter_raw(urls: list[str], stats: ReadStats | None = None, limits: ReadLimits = DEFAULT_LIMITS,
             bad_shards: str = "raise") -> Iterator[dict[str, Any]]:
    """Raw samples (``__key__``, ``__url__``, suffix → bytes) from ``urls`` in order, read by the
    strict tar reader; refused samples and members are counted in ``stats``. An unreadable shard
    raises :class:`~fourm_registry.tarread.ShardError` (``bad_shards="raise"``) or is counted."""
    stats = stats if stats is not None else ReadStats()
    for url in urls:
        try:
            yield from iter_tar_samples(str(url), limits, stats.problem)
        except ShardError as exc:
            if bad_shards == "raise":
                raise
            log.warning("skipped a shard: %s", exc)
            stats.bad_shards += 1
            stats.note("unreadable shard")


def read_samples(
    shards: str | os.PathLike | Iterable[str], registry: Any = None, *,
    modalities: Iterable[str] | None = None, on_error: str = "skip", stats: ReadStats | None = None,
    limits: ReadLimits | dict[str, Any] | None = None,
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
    or raise :class:`FourmError` (``on_error="raise"``); so are refused tar members and
    unreadable shards. ``limits`` bound member bytes, image pixels and array sizes (checked
    before decoding). ``registry`` defaults to the application registry (all installed plugins).
    """
    if registry is None:
        from .registry import get_registry

        registry = get_registry()
    required = set(modalities or ())
    stats = stats if stats is not None else ReadStats()
    limits = limits_from(limits)
    if on_error == "raise":
        stats = _RaisingStats(stats)
    for raw in iter_raw(expand_shards(shards), stats, limits, bad_shards=on_error):
        try:
            sample = decode_sample(registry, raw, limits)
            missing = required - set(sample)
            if missing:
                raise BadSample(f"{raw.get('__url__', '?')}, sample {sample['__key__']!r}",
                                f"lacks {sorted(missing)}")
        except BadSample as exc:
            if on_error == "raise":
                raise FourmError(str(exc)) from exc
            log.debug("skipped a sample: %s", exc)
            stats.skip(exc.reason)
            continue
        stats.samples += 1
        yield sample


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(path: Path) -> int:
    """Delete temporary files of shard ``path`` left by killed runs (not those of live processes)."""
    removed = 0
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


class _RaisingStats(ReadStats):
    """Stats whose refused samples raise (``on_error="raise"``) instead of being counted."""

    def __init__(self, inner: ReadStats):
        super().__init__()
        self.__dict__ = inner.__dict__  # count into the caller's stats

    def problem(self, reason: str, detail: str, is_sample: bool) -> None:
        if is_sample:
            raise FourmError(detail)
        self.note(reason)


class AtomicShardWriter:
    """Write one tar shard under a temporary name; rename to ``path`` only on clean close.

    Temporaries of ``path`` left by killed runs (dead pids) are removed on opening."""

    def __init__(self, path: str | os.PathLike, registry: Any = None):
        if registry is None:
            from .registry import get_registry

            registry = get_registry()
        self.registry = registry
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(self.path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._stream = open(self.tmp, "wb")
        # a fixed member mtime: the same samples give a byte-identical shard (reproducible runs)
        self._tar = wds.TarWriter(self._stream, mtime=float(os.environ.get("SOURCE_DATE_EPOCH", 0)))
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

"""The two shard layouts, both turned into raw webdataset samples ``{"__key__", "<field>.<ext>": bytes}``.

- flat: one tar per shard holding every field of a sample (``key.tok_depth.npy``, ``key.rgb.jpg``…);
- per_modality (4M): ``root/<field>/<shard>.tar``, zipped by sample key across field folders.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FourmError
from ..limits import DEFAULT_LIMITS, ReadLimits
from ..shards import ReadStats, expand_shards, iter_raw


@dataclass(frozen=True)
class ShardSource:
    """The shard units to draw from and how one unit becomes raw samples."""

    layout: str
    units: list[str]  # flat: tar paths; per_modality: shard file names shared by every folder
    root: Path | None = None
    fields: tuple[str, ...] = ()

    def samples(self, urls: Iterable[dict[str, Any]], stats: ReadStats,
                limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[dict[str, Any]]:
        """Raw samples of each unit in turn, read by the strict tar reader; refused samples and
        unreadable shards are counted in ``stats`` (and logged), never raised."""
        for item in urls:
            if self.layout == "flat":
                yield from iter_raw([item["url"]], stats, limits, bad_shards="skip")
            else:
                yield from self._zip(item["url"], stats, limits)

    def _zip(self, unit: str, stats: ReadStats, limits: ReadLimits) -> Iterator[dict[str, Any]]:
        assert self.root is not None
        streams = [iter_raw([str(self.root / f / unit)], stats, limits, bad_shards="skip") for f in self.fields]
        for number, parts in enumerate(_zip_longest(streams)):
            keys = [p.get("__key__") if p is not None else None for p in parts]
            if len(set(keys)) != 1:
                detail = ", ".join(f"{f}: {k!r}" for f, k in zip(self.fields, keys))
                raise FourmError(f"Shard {unit!r}, sample #{number}: the modality folders disagree on the "
                                 f"sample key ({detail}; None = that folder's tar ended). Every folder "
                                 "must list the same samples in the same order.")
            sample: dict[str, Any] = {"__key__": keys[0], "__url__": unit}
            for field, part in zip(self.fields, parts):
                for suffix, data in part.items():
                    if not suffix.startswith("__"):
                        name = suffix if suffix.startswith(f"{field}.") else f"{field}.{suffix}"
                        sample[name] = data
            yield sample


def _zip_longest(streams: Sequence[Iterator[dict[str, Any]]]) -> Iterator[list[dict[str, Any] | None]]:
    done = object()
    while True:
        parts = [next(s, done) for s in streams]
        if all(p is done for p in parts):
            return
        yield [None if p is done else p for p in parts]


def _looks_per_modality(spec: str | list[str], fields: Sequence[str]) -> bool:
    if not isinstance(spec, str):
        return False
    root = Path(spec)
    return root.is_dir() and all((root / f).is_dir() for f in fields)


def shard_source(spec: str | list[str], layout: str, fields: Sequence[str]) -> ShardSource:
    """Resolve ``spec`` to a :class:`ShardSource`; ``fields`` are the members every sample needs."""
    if layout == "auto":
        layout = "per_modality" if _looks_per_modality(spec, fields) else "flat"
    if layout == "flat":
        return ShardSource("flat", expand_shards(spec))
    if not isinstance(spec, str) or not Path(spec).is_dir():
        raise FourmError(f"The per_modality layout needs a root folder, got {spec!r}.")
    root = Path(spec)
    missing = [f for f in fields if not (root / f).is_dir()]
    if missing:
        raise FourmError(f"{root} lacks the modality folder(s) {missing} (per_modality layout: "
                         f"one folder per field, e.g. {root / fields[0]}/shard-00000.tar).")
    names = {f: sorted(p.name for p in (root / f).glob("*.tar")) for f in fields}
    units = names[fields[0]]
    if not units:
        raise FourmError(f"No .tar shards in {root / fields[0]}.")
    for field, found in names.items():
        if found != units:
            diff = sorted(set(units) ^ set(found))[:5]
            raise FourmError(f"Folder {root / field} does not hold the same shards as "
                             f"{root / fields[0]} (differing: {diff}).")
    return ShardSource("per_modality", units, root, tuple(fields))

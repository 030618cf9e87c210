"""Pseudo-labeling: RGB (+caption) inputs → aligned multimodal shards, one labeler per modality.

Each selected modality's plugin supplies the labeler (``ModalitySpec.create_labeler``); this
module only batches images through them and writes shards. Runs are resumable: an output
shard is written under a temporary name and renamed when complete, finished shards are
skipped on the next run, and a shard cut short by ``limit`` carries a ``.partial`` marker
so a later run redoes it. A killed run therefore loses nothing and duplicates nothing.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (BarColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn)

from ..errors import FourmError
from ..registry import get_registry
from ..provenance import PROVENANCE_FIELD, PROVENANCE_MEMBER, decode_member as decode_provenance, merged
from ..shards import TOKEN_PREFIX, AtomicShardWriter, ReadStats, decode_member
from .inputs import RawItem, SourceShard, load_image
from .labelers import SampleInput, TextInput
from .report import LabelReport, _Rate
from .resume import PARTIAL_SUFFIX, remove_stale_tmp


@dataclass
class _Item:
    key: str
    image: np.ndarray
    caption: str | None
    fields: dict[str, bytes]


class _ShardLabeler:
    """Labels one source shard into one writer, batch by batch."""

    def __init__(self, labelers: Mapping[str, Any], report: LabelReport, *, image_field: str,
                 caption_field: str | None, batch_size: int, min_size: int, registry: Any = None):
        self.labelers, self.report, self.registry = labelers, report, registry
        self.provenance = dict(getattr(labelers, "provenance", None) or {})  # label records of this pass
        self.image_field, self.caption_field = image_field, caption_field
        self.batch_size, self.min_size = max(1, batch_size), min_size

    def decode(self, raw: RawItem, seen: set[str]) -> _Item | None:
        rep = self.report
        rep.ignored_members += len(raw.junk)
        if raw.key in seen:
            rep.count(rep.skipped, "duplicate key")
            return None
        if raw.image is None:
            rep.count(rep.skipped, "no image member")
            return None
        if raw.bad:  # e.g. a caption that is not UTF-8: skipped and counted, never mangled
            rep.count(rep.skipped, raw.bad)
            return None
        for suffix, data in raw.fields.items():  # carried-over members must be valid, not copied blind
            try:
                decode_member(self.registry if self.registry is not None else get_registry(), suffix, data)
            except Exception as exc:
                rep.count(rep.skipped, f"bad member {suffix}: {str(exc)[:60]}")
                return None
        try:
            image, converted = load_image(raw.image)
        except ValueError as exc:
            rep.count(rep.skipped, str(exc))
            return None
        if min(image.shape[:2]) < self.min_size:
            rep.count(rep.skipped, f"smaller than {self.min_size} px")
            return None
        if converted:
            rep.count(rep.converted, converted)
        if raw.caption is None:
            rep.missing_captions += 1
        seen.add(raw.key)
        return _Item(raw.key, image, raw.caption, raw.fields)

    def label(self, batch: list[_Item]) -> list[dict[str, Any]]:
        """Label a batch; a failing batch is retried image by image and bad images skipped."""
        values: dict[str, list[Any]] = {}
        good = [True] * len(batch)
        for name, fn in self.labelers.items():
            start = time.perf_counter()
            values[name] = self._run(name, fn, batch, good, values)
            self.report.labeler_seconds[name] = (self.report.labeler_seconds.get(name, 0.0)
                                                 + time.perf_counter() - start)
        out = []
        for i, item in enumerate(batch):
            if not good[i]:
                continue
            sample: dict[str, Any] = {"__key__": item.key, self.image_field: item.image}
            relabeled = set(self.labelers) | {TOKEN_PREFIX + n for n in self.labelers}
            sample.update({s: b for s, b in item.fields.items()
                           if s.split(".", 1)[0] not in relabeled and s != PROVENANCE_MEMBER})
            old = decode_provenance(item.fields.get(PROVENANCE_MEMBER))
            if self.provenance or old:
                sample[PROVENANCE_FIELD] = merged(old, labels=self.provenance, drop=self.labelers)
            if self.caption_field and item.caption is not None:
                sample[self.caption_field] = item.caption
            sample.update({name: vals[i] for name, vals in values.items()})
            out.append(sample)
        return out

    def _samples(self, batch: list[_Item], values: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
        """Decoded samples for a sample labeler: carried-over fields, the image (also under
        ``__image__``), the caption and the values labeled earlier in this pass."""
        out = []
        for i, item in enumerate(batch):
            sample: dict[str, Any] = {"__key__": item.key, "__image__": item.image, self.image_field: item.image}
            if self.caption_field and item.caption is not None:
                sample[self.caption_field] = item.caption
            for suffix, data in item.fields.items():
                if suffix.split(".", 1)[0] in self.labelers:
                    continue  # relabeled in this pass: the new value comes below
                try:
                    field, value = decode_member(self.registry, suffix, data)
                except Exception:  # an undecodable carried-over member is simply not offered
                    continue
                sample[field] = value
            sample.update({name: vals[i] for name, vals in values.items() if vals[i] is not None})
            out.append(sample)
        return out

    def _inputs(self, name: str, fn: Any, batch: list[_Item], good: list[bool],
                values: Mapping[str, list[Any]]) -> list[Any]:
        """Images, captions for a text labeler (a sample without one is skipped), or decoded
        samples for a sample labeler."""
        if isinstance(fn, SampleInput):
            return self._samples(batch, values)
        if not isinstance(fn, TextInput):
            return [item.image for item in batch]
        for i, item in enumerate(batch):
            if item.caption is None and good[i]:
                good[i] = False
                self.report.count(self.report.skipped, f"no caption for the {name} labeler")
        return [item.caption or "" for item in batch]

    def _run(self, name: str, fn: Any, batch: list[_Item], good: list[bool],
             values: Mapping[str, list[Any]]) -> list[Any]:
        inputs = self._inputs(name, fn, batch, good, values)
        try:
            result = list(fn(inputs))
            if len(result) != len(inputs):
                raise FourmError(f"The {name!r} labeler returned {len(result)} values for "
                                 f"{len(inputs)} inputs")
            return result
        except FourmError:
            raise
        except Exception as batch_exc:
            result, errors = [], 0
            for i, one in enumerate(inputs):
                try:
                    result.append(list(fn([one]))[0])
                except Exception as exc:  # one bad input must not stop the run
                    errors += 1
                    good[i] = False
                    result.append(None)
                    self.report.count(self.report.skipped, f"{name} labeler failed "
                                                           f"({type(exc).__name__})")
            if errors == len(inputs):
                raise FourmError(f"The {name!r} labeler fails on every input: "
                                 f"{type(batch_exc).__name__}: {batch_exc}") from batch_exc
            return result

    def batches(self, items: Iterator[RawItem], remaining: int | None,
                on_item: Any) -> Iterator[tuple[list[_Item], bool]]:
        """Decoded batches; the flag says the limit cut the shard short (items were left)."""
        seen: set[str] = set()
        batch: list[_Item] = []
        taken = 0
        for raw in items:
            if remaining is not None and taken >= remaining:
                if batch:
                    yield batch, False
                yield [], True
                return
            on_item()
            item = self.decode(raw, seen)
            if item is None:
                continue
            batch.append(item)
            taken += 1
            if len(batch) == self.batch_size:
                yield batch, False
                batch = []
        if batch:
            yield batch, False


def label_shards(
    sources: Sequence[SourceShard], out_dir: str | os.PathLike, labelers: Mapping[str, Any],
    registry: Any, *, image_field: str, caption_field: str | None = None, batch_size: int = 8,
    limit: int | None = None, min_size: int = 32, progress: bool = True,
    console: Console | None = None,
) -> LabelReport:
    """Label every source shard into ``out_dir/<source name>``; returns what happened.

    ``labelers`` maps a modality name to a callable (list of H×W×3 uint8 → list of raw
    values). Output samples hold ``__key__``, the image under ``image_field``, the caption
    (when present) under ``caption_field`` and one field per labeler. ``limit`` caps the
    images labeled in this run.
    """
    for name in [image_field, caption_field, *labelers]:
        if name is not None:
            registry.get_modality(name)
    text_labelers = [n for n, fn in labelers.items() if isinstance(fn, TextInput)]
    if text_labelers and caption_field is None:
        raise FourmError(f"The {', '.join(text_labelers)} labeler(s) read captions: give a caption field.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = LabelReport()
    worker = _ShardLabeler(labelers, report, image_field=image_field, caption_field=caption_field,
                           batch_size=batch_size, min_size=min_size, registry=registry)
    known = [s.size for s in sources]
    total = sum(known) if all(n is not None for n in known) else None  # type: ignore[misc]
    start = time.perf_counter()
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed} images"), _Rate(), TimeElapsedColumn()]
    with Progress(*columns, console=console or Console(stderr=True), disable=not progress,
                  transient=False) as bar:
        task = bar.add_task("labeling", total=total)
        for source in sources:
            remaining = None if limit is None else limit - report.images
            if remaining is not None and remaining <= 0:
                break
            path = out / source.name
            marker = path.with_name(path.name + PARTIAL_SUFFIX)
            if path.exists() and not marker.exists():
                report.shards_skipped += 1
                if source.size is not None:
                    bar.advance(task, source.size)
                continue
            bar.update(task, description=source.name)
            remove_stale_tmp(path)
            stats = ReadStats()
            writer = AtomicShardWriter(path, registry)
            cut = False
            try:
                for batch, was_cut in worker.batches(source.items(stats), remaining,
                                                     lambda: bar.advance(task)):
                    cut = cut or was_cut
                    for sample in worker.label(batch) if batch else []:
                        writer.write(sample)
                        report.images += 1
            except BaseException:
                writer.abort()
                raise
            for reason, n in stats.reasons.items():
                report.count(report.skipped, reason, n)
            if cut:
                marker.touch()  # before the rename, so a killed run never leaves a cut shard unmarked
            writer.close()
            if not cut:
                marker.unlink(missing_ok=True)
            report.shards_written += 1
    report.seconds = time.perf_counter() - start
    return report

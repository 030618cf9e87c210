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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn,
                           TimeElapsedColumn)
from rich.text import Text

from .errors import FourmError
from .label_inputs import RawItem, SourceShard, load_image
from .shards import TOKEN_PREFIX, AtomicShardWriter, ReadStats

PARTIAL_SUFFIX = ".partial"


@dataclass
class LabelReport:
    """What a labeling run did; ``skipped``/``converted`` map a reason to a count."""

    images: int = 0
    shards_written: int = 0
    shards_skipped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    converted: dict[str, int] = field(default_factory=dict)
    missing_captions: int = 0
    ignored_members: int = 0
    seconds: float = 0.0
    labeler_seconds: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def count(table: dict[str, int], reason: str, n: int = 1) -> None:
        table[reason] = table.get(reason, 0) + n

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.images, "shards_written": self.shards_written,
                "shards_skipped": self.shards_skipped, "skipped": dict(self.skipped),
                "converted": dict(self.converted), "missing_captions": self.missing_captions,
                "ignored_members": self.ignored_members, "seconds": round(self.seconds, 3),
                "images_per_s": round(self.images_per_s, 2),
                "labeler_seconds": {k: round(v, 3) for k, v in self.labeler_seconds.items()}}


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; an unavailable CUDA is a user error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise FourmError(f"--device {device}: no CUDA device is available (use cpu or auto)")
        return device
    if device != "cpu":
        raise FourmError(f"Unknown device {device!r}: use auto, cpu or cuda[:N]")
    return device


@dataclass(frozen=True)
class TextInput:
    """A labeler called on the samples' texts (their caption field) instead of images (``inputs="text"``)."""

    fn: Callable[[list[str]], list[Any]]

    def __call__(self, captions: list[str]) -> list[Any]:
        return self.fn(captions)


def build_labelers(registry: Any, modalities: Sequence[str], device: str,
                   models: Mapping[str, str] | None = None,
                   labeler_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One loaded labeler per modality: the modality's own, or a named registered one."""
    models, labeler_names = dict(models or {}), dict(labeler_names or {})
    for name in list(models) + list(labeler_names):
        if name not in modalities:
            raise FourmError(f"A model or labeler was given for {name!r}, which is not in --modalities")
    out: dict[str, Any] = {}
    for name in modalities:
        spec = registry.get_modality(name)
        lab = registry.get_labeler(labeler_names[name]) if name in labeler_names else spec.labeler
        if lab is None or lab.modality != name:
            have = sorted(m for m, s in registry.modalities.items() if s.labeler is not None)
            raise FourmError(f"Modality {name!r} has no pseudo-labeler"
                             + (f" (labeler {lab.name!r} is for {lab.modality!r})" if lab else "")
                             + f". Modalities with one: {', '.join(have) or 'none'}.")
        model = models.get(name) or lab.default_model
        try:
            labeler = lab.factory(model, device)
            out[name] = TextInput(labeler) if lab.inputs == "text" else labeler
        except FourmError:
            raise
        except Exception as exc:
            raise FourmError(f"Could not load labeler {lab.name!r} for modality {name!r} from "
                             f"{model!r}: {type(exc).__name__}: {exc}. Weights cannot be downloaded "
                             f"everywhere: pass a local directory with --model {name}=PATH.") from exc
    return out


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} img/s" if speed else "… img/s", style="progress.data.speed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(path: Path) -> int:
    """Delete temporary files of ``path`` left by killed runs (not those of live processes)."""
    removed = 0
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass
class _Item:
    key: str
    image: np.ndarray
    caption: str | None
    fields: dict[str, bytes]


class _ShardLabeler:
    """Labels one source shard into one writer, batch by batch."""

    def __init__(self, labelers: Mapping[str, Any], report: LabelReport, *, image_field: str,
                 caption_field: str | None, batch_size: int, min_size: int):
        self.labelers, self.report = labelers, report
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
            values[name] = self._run(name, fn, batch, good)
            self.report.labeler_seconds[name] = (self.report.labeler_seconds.get(name, 0.0)
                                                 + time.perf_counter() - start)
        out = []
        for i, item in enumerate(batch):
            if not good[i]:
                continue
            sample: dict[str, Any] = {"__key__": item.key, self.image_field: item.image}
            relabeled = set(self.labelers) | {TOKEN_PREFIX + n for n in self.labelers}
            sample.update({s: b for s, b in item.fields.items() if s.split(".", 1)[0] not in relabeled})
            if self.caption_field and item.caption is not None:
                sample[self.caption_field] = item.caption
            sample.update({name: vals[i] for name, vals in values.items()})
            out.append(sample)
        return out

    def _inputs(self, name: str, fn: Any, batch: list[_Item], good: list[bool]) -> list[Any]:
        """Images, or captions for a text labeler (a sample without one is skipped)."""
        if not isinstance(fn, TextInput):
            return [item.image for item in batch]
        for i, item in enumerate(batch):
            if item.caption is None and good[i]:
                good[i] = False
                self.report.count(self.report.skipped, f"no caption for the {name} labeler")
        return [item.caption or "" for item in batch]

    def _run(self, name: str, fn: Any, batch: list[_Item], good: list[bool]) -> list[Any]:
        inputs = self._inputs(name, fn, batch, good)
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
                           batch_size=batch_size, min_size=min_size)
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

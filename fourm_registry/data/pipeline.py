"""The per-worker training stream: shards → raw samples → shuffle → decode → repeat → mask → batch.

Every random choice (shard draws, shuffle buffer, repeat buffer, masking) comes from seeds
derived from ``(seed, rank, segment, worker)``, so a stream is a pure function of those.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import numpy as np
import torch
import webdataset as wds

from ..batch import Batch
from ..errors import FourmError
from ..masking import Masker
from ..shards import ReadStats, decode_sample
from ..spec import ModalityKind, ModalitySpec
from .collate import collate
from .config import DataConfig
from .layouts import ShardSource
from .prepare import SampleError, prepare_sample, source_field
from .repeat import repeat_sampling
from .starvation import Starvation

log = logging.getLogger("fourm.data")


def worker_info() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


def stream_seeds(seed: int, rank: int, segment: int, worker: int) -> list[int]:
    """Independent seeds for shard draws, shuffle, repeat buffer and masking of one worker stream."""
    return [int(s) for s in np.random.SeedSequence([seed, rank, segment, worker]).generate_state(4)]


@dataclass
class StreamPlan:
    """Everything a worker needs to produce its batches (pickled into DataLoader workers)."""

    source: ShardSource
    registry: Any
    specs: list[ModalitySpec]
    masker: Masker
    data: DataConfig
    batch_size: int
    seed: int
    rank: int
    world_size: int
    segment: int = 0


def _epoch_shards(plan: StreamPlan) -> Iterator[dict[str, Any]]:
    """Non-resampled mode: every epoch one shard order shared by all ranks, split across ranks, then workers.

    Each segment starts a new epoch (its order seeded by seed, segment and epoch).
    """
    for epoch in count():
        order = np.random.default_rng([plan.seed, plan.segment, epoch]).permutation(len(plan.source.units))
        mine = [plan.source.units[i] for i in order[plan.rank::plan.world_size]]
        yield from ({"url": u} for u in wds.split_by_worker(mine))
        yield {"__pass__": True}  # every shard of this epoch was read (see Starvation)


class _StreamStats(ReadStats):
    """Stats whose samples refused by the tar reader are logged and watched like decode skips."""

    def __init__(self, on_skip: Any):
        super().__init__()
        self._on_skip = on_skip

    def problem(self, reason: str, detail: str, is_sample: bool) -> None:
        if is_sample:
            self._on_skip(self, reason, detail)
        else:
            self.note(reason)


class TrainStream(torch.utils.data.IterableDataset):
    """Yields ``(batch, stats)``; ``stats`` is this worker's cumulative :class:`ReadStats` as a dict."""

    def __init__(self, plan: StreamPlan):
        super().__init__()
        self.plan = plan

    def __iter__(self) -> Iterator[tuple[Batch | None, dict[str, Any]]]:
        """Batches; a stream that cannot go on yields ``(None, {"error": message})`` once and ends
        (a DataLoader worker's exception would reach the user as a multi-line traceback)."""
        worker, _ = worker_info()
        try:
            yield from self._batches(worker)
        except FourmError as exc:
            yield None, {"worker": worker, "error": str(exc)}

    def _batches(self, worker: int) -> Iterator[tuple[Batch, dict[str, Any]]]:
        plan = self.plan
        shard_seed, shuffle_seed, repeat_seed, mask_seed = stream_seeds(plan.seed, plan.rank, plan.segment, worker)
        stats = _StreamStats(self._skip)
        where = f"worker {worker} of rank {plan.rank}" if plan.world_size > 1 or plan.data.num_workers > 1 \
            else "the data stream"
        self._watch = watch = Starvation(plan.source.units, plan.data.shuffle_buffer, where)
        if plan.data.resampled:
            urls: Any = wds.ResampledShards(plan.source.units, seed=shard_seed, deterministic=True,
                                            worker_seed=lambda: 0)
        else:
            urls = _epoch_shards(plan)
        watched = watch.urls(iter(urls), stats, epochs=not plan.data.resampled)
        raw = watch.samples(plan.source.samples(watched, stats, plan.data.limits))
        if plan.data.shuffle_buffer > 1:
            initial = min(plan.data.shuffle_initial, plan.data.shuffle_buffer)
            raw = wds.shuffle(plan.data.shuffle_buffer, initial, rng=random.Random(shuffle_seed))(raw)
        decoded = self._decode(raw, stats)
        repeated = repeat_sampling(decoded, plan.data.repeat, plan.data.repeat_buffer,
                                   np.random.default_rng(repeat_seed))
        mask_rng = np.random.default_rng(mask_seed)
        masked = (plan.masker(sample, mask_rng) for sample in repeated)
        group: list[Any] = []
        for item in masked:  # not wds.batched: it reads one sample past each batch before yielding it
            group.append(item)
            if len(group) == plan.batch_size:
                yield collate(group), {"worker": worker, "samples": stats.samples, "skipped": stats.skipped,
                                       "reasons": dict(stats.reasons)}
                group = []

    def _decode(self, raw: Iterator[dict[str, Any]], stats: ReadStats) -> Iterator[dict[str, Any]]:
        plan = self.plan
        fields = {source_field(s) for s in plan.specs}
        self._sequences = [s for s in plan.specs if s.kind is ModalityKind.SEQUENCE]
        for sample in raw:
            key = sample.get("__key__", "?")
            wanted = {k: v for k, v in sample.items() if k.startswith("__") or k.split(".", 1)[0] in fields}
            try:
                prepared = prepare_sample(decode_sample(plan.registry, wanted, plan.data.limits), plan.specs)
            except SampleError as exc:
                self._skip(stats, exc.reason, f"{sample.get('__url__', '?')}, {exc}")
                continue
            except ValueError as exc:  # decode_sample: a member the codec cannot read
                self._skip(stats, "undecodable member", str(exc) or f"sample {key!r}")
                continue
            for spec in self._sequences:
                if spec.tokenizer.max_length and len(prepared[spec.name]) >= spec.tokenizer.max_length:
                    stats.note(f"{spec.token_key} cut to max_length - 1 ids (+ [EOS])")
            stats.samples += 1
            self._watch.good += 1
            yield prepared

    def _skip(self, stats: ReadStats, reason: str, detail: str) -> None:
        stats.skip(reason)
        self._watch.refused(stats)
        limit = self.plan.data.log_skips
        if stats.skipped <= limit:
            log.warning("skipped a sample (%s): %s", reason, detail)
            if stats.skipped == limit:
                log.warning("further skipped samples of this worker are counted, not logged")

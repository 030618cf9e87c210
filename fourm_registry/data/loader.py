"""The training data loader: DataLoader workers over :class:`TrainStream`, with an exact resume position.

The stream is cut into segments of ``segment_batches`` batches; each segment is seeded from
``(seed, rank, segment)`` and DataLoader hands out worker batches round-robin, so batch k of a
rank is a pure function of (seed, rank, world size, workers, k). Resuming at k restarts k's
segment and replays at most ``segment_batches - 1`` batches of it (decode cost, no training).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import torch

from ..batch import Batch
from ..config import validate_config
from ..errors import FourmError
from ..masking import Masker, MaskingConfig
from ..shards import ReadStats
from ..spec import ModalitySpec
from .config import DataConfig
from .layouts import shard_source
from .pipeline import StreamPlan, TrainStream
from .prepare import source_field

_STREAM_KEYS = ("seed", "rank", "world_size", "num_workers", "segment_batches", "batch_size")


class MaskingSetupError(FourmError):
    """The masking settings cannot be applied to these modalities (a ``masking:`` error)."""


class TrainLoader:
    """Iterate for an endless stream of batches; ``state_dict``/``load_state_dict`` give the position."""

    def __init__(self, plan: StreamPlan):
        self.plan = plan
        self.step = 0  # batches handed out so far
        self._done = ReadStats()  # finished segments
        self._live: dict[int, dict[str, Any]] = {}  # current segment, per worker

    # -- position ----------------------------------------------------------------------
    def _identity(self) -> dict[str, int]:
        p = self.plan
        return {"seed": p.seed, "rank": p.rank, "world_size": p.world_size, "num_workers": p.data.num_workers,
                "segment_batches": p.data.segment_batches, "batch_size": p.batch_size}

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step, **self._identity()}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        mine = self._identity()
        differ = {k: (state.get(k), mine[k]) for k in _STREAM_KEYS if state.get(k) != mine[k]}
        if differ:
            detail = ", ".join(f"{k}: saved {a} vs now {b}" for k, (a, b) in differ.items())
            raise FourmError(f"Cannot resume the data stream exactly: {detail}.")
        self.step = int(state["step"])

    # -- skipped-sample report ---------------------------------------------------------
    @property
    def stats(self) -> ReadStats:
        """Samples decoded and skipped so far (a resumed segment's replay is counted again)."""
        total = ReadStats(self._done.samples, self._done.skipped, dict(self._done.reasons))
        for snap in self._live.values():
            _add(total, snap)
        return total

    # -- iteration ---------------------------------------------------------------------
    def _loader(self, segment: int) -> torch.utils.data.DataLoader:
        data = self.plan.data
        extra = {"prefetch_factor": data.prefetch_factor} if data.num_workers else {}
        return torch.utils.data.DataLoader(TrainStream(replace(self.plan, segment=segment)), batch_size=None,
                                           num_workers=data.num_workers, **extra)

    def __iter__(self) -> Iterator[Batch]:
        per_segment = self.plan.data.segment_batches
        while True:
            segment, skip = divmod(self.step, per_segment)
            self._live = {}
            it = iter(self._loader(segment))
            try:
                for i, (batch, snap) in enumerate(it):
                    if batch is None:  # the stream cannot go on (nothing usable): one clear line
                        raise FourmError(snap["error"])
                    self._live[snap["worker"]] = snap
                    if i < skip:
                        continue
                    self.step += 1
                    yield batch
                    if self.step % per_segment == 0:
                        break
            finally:
                del it  # shuts the segment's workers down
                for snap in self._live.values():
                    _add(self._done, snap)
                self._live = {}


def _add(total: ReadStats, snap: Mapping[str, Any]) -> None:
    total.samples += snap["samples"]
    total.skipped += snap["skipped"]
    for reason, n in snap["reasons"].items():
        total.reasons[reason] = total.reasons.get(reason, 0) + n


def build_train_loader(data_cfg: DataConfig | Mapping[str, Any], masking_cfg: MaskingConfig | Mapping[str, Any] | None,
                       registry: Any, modalities: Iterable[str | ModalitySpec], batch_size: int,
                       rank: int = 0, world_size: int = 1, seed: int = 0) -> TrainLoader:
    """An endless, resumable loader of masked, collated batches for one rank."""
    data = data_cfg if isinstance(data_cfg, DataConfig) else validate_config(DataConfig, data_cfg, "data")
    if masking_cfg is None:
        masking_cfg = MaskingConfig()
    masking = masking_cfg if isinstance(masking_cfg, MaskingConfig) else \
        validate_config(MaskingConfig, masking_cfg, "masking")
    if batch_size < 1 or not 0 <= rank < world_size:
        raise FourmError(f"Invalid batch_size {batch_size} / rank {rank} of world_size {world_size}.")
    specs = [m if isinstance(m, ModalitySpec) else registry.get_modality(m) for m in modalities]
    if not specs:
        raise FourmError("The data loader needs at least one modality.")
    source = shard_source(data.shards, data.layout, [source_field(s) for s in specs])
    streams = world_size * max(1, data.num_workers)
    if not data.resampled and len(source.units) < streams:
        raise FourmError(f"{len(source.units)} shard(s) cannot be split over {world_size} rank(s) × "
                         f"{max(1, data.num_workers)} worker(s); use more shards or resampled: true.")
    try:
        masker = Masker(masking, specs)
    except FourmError as exc:  # reported under the masking section, not the shards
        raise MaskingSetupError(f"masking: {exc}") from exc
    plan = StreamPlan(source, registry, specs, masker, data, batch_size, seed, rank, world_size)
    return TrainLoader(plan)

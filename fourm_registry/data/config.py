"""The training-data settings a user writes."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import StrictModel
from ..limits import ReadLimits


class DataConfig(StrictModel):
    """Where shards are and how the stream is shuffled, repeated and split.

    ``shards``: a brace pattern, glob, directory or list of tars (``flat`` layout: one tar
    holds every modality of a sample) or the root folder of the 4M layout
    (``per_modality``: ``root/<field>/<shard>.tar``, fields ``tok_<modality>`` or raw names).
    ``auto`` picks ``per_modality`` when ``shards`` is a directory with one such folder per field.
    """

    shards: str | list[str]
    layout: Literal["auto", "flat", "per_modality"] = "auto"
    resampled: bool = True  # infinite stream of randomly drawn shards; False: epochs over shards
    shuffle_buffer: int = Field(default=1000, ge=0)  # raw samples held for shuffling (0: off)
    shuffle_initial: int = Field(default=100, ge=0)  # samples buffered before the first is yielded
    repeat: int = Field(default=4, ge=1)  # each decoded sample is masked and used this many times
    repeat_buffer: int = Field(default=64, ge=1)  # decoded samples held for repeat sampling
    num_workers: int = Field(default=2, ge=0)
    prefetch_factor: int = Field(default=2, ge=1)
    segment_batches: int = Field(default=1000, ge=1)  # the stream is re-seeded every this many batches
    log_skips: int = Field(default=20, ge=0)  # skipped samples logged per worker (all are counted)
    limits: ReadLimits = Field(default_factory=ReadLimits)  # member bytes, image pixels, array sizes


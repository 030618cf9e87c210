"""Stop a training stream that can never yield a sample, instead of spinning forever.

A stream over shards that are all empty, unreadable or full of unusable samples (bad ids,
wrong shapes…) would loop over its shards without end. :class:`Starvation` watches one
worker stream: once every shard has been read at least once (a *pass*) and either no raw
sample came out, or every decoded sample since the start was refused (with a margin for the
shuffle buffer), it raises a :class:`FourmError` naming the shards and the top skip reasons.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import FourmError
from ..shards import ReadStats


class Starvation:
    """Counters of one worker stream; :meth:`check` raises when nothing usable can come."""

    def __init__(self, units: list[str], shuffle_buffer: int, where: str):
        self.units, self.shuffle_buffer, self.where = units, shuffle_buffer, where
        self.opened: set[str] = set()
        self.draws = self.raw = self.bad = self.good = 0
        self.raw_at_pass: int | None = None

    # -- fed by the stream ----------------------------------------------------------------
    def urls(self, items: Iterable[dict[str, Any]], stats: ReadStats, epochs: bool) -> Iterator[dict[str, Any]]:
        """Pass ``items`` through; a new request after every unit was read ends a pass."""
        for item in items:
            if item.get("__pass__"):
                self.pass_done(stats)
                continue
            if not epochs and (len(self.opened) == len(self.units) or self.draws >= 20 * len(self.units) + 100):
                self.pass_done(stats)
            self.draws += 1
            self.opened.add(item["url"])
            yield item

    def samples(self, raw: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for sample in raw:
            self.raw += 1
            yield sample

    def pass_done(self, stats: ReadStats) -> None:
        if self.raw_at_pass is None:
            self.raw_at_pass = self.raw
        self.check(stats)

    def refused(self, stats: ReadStats) -> None:
        self.bad += 1
        self.check(stats)

    # -- the verdict ----------------------------------------------------------------------
    def check(self, stats: ReadStats) -> None:
        if self.good or self.raw_at_pass is None:
            return
        if self.raw_at_pass and self.bad < 2 * self.raw_at_pass + self.shuffle_buffer:
            return
        shards = sorted(self.opened)
        names = ", ".join(shards[:3]) + (f" (+{len(shards) - 3} more)" if len(shards) > 3 else "")
        top = sorted(stats.reasons.items(), key=lambda kv: -kv[1])[:3]
        why = "; ".join(f"{r} ({n})" for r, n in top) or "the shards hold no samples"
        raise FourmError(f"No usable training sample: {self.where} found none in {len(shards)} shard(s) "
                         f"[{names}] ({self.raw} read, {self.bad} refused); top reasons: {why}.")

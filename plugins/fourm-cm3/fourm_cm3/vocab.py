"""One vocabulary for every modality, the interleaved sequence of a sample, and CM3 masking.

Ids: ``[PAD]=0, [BOS]=1, [EOS]=2, <break>=3``, then ``num_sentinels`` sentinels, then each
vocabulary modality's own ids shifted to a range of their own (in ``vocab`` order). A sample
becomes ``[BOS] seg_1 <break> seg_2 … [EOS]``; a sequence segment is its token ids (its own
padding and [EOS] dropped), a grid segment its cells in raster order.

CM3 (Aghajanyan et al. 2022): a few spans are cut out of the body, each replaced by a
sentinel ``[S_i]``, and appended after the body as ``[S_i] span_i``, then ``[EOS]``; the causal
LM loss covers the whole sequence, so the model learns to fill spans with both sides in view.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fourm_registry import FourmError, ModalityKind
from fourm_registry.tokens import EOS_ID as LOCAL_EOS, PAD_ID as LOCAL_PAD

PAD, BOS, EOS, BREAK, SENTINEL_BASE = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Segment:
    name: str
    sequence: bool
    vocab_size: int
    num_tokens: int  # a grid's cells, or a sequence's maximum length
    offset: int


class Layout:
    """The unified id ranges of the vocabulary modalities."""

    def __init__(self, records: dict[str, dict[str, Any]], num_sentinels: int):
        self.num_sentinels = num_sentinels
        self.segments: dict[str, Segment] = {}
        offset = SENTINEL_BASE + num_sentinels
        for name, r in records.items():
            self.segments[name] = Segment(name, r["kind"] == ModalityKind.SEQUENCE.value, int(r["vocab_size"]),
                                          int(r["num_tokens"]), offset)
            offset += int(r["vocab_size"])
        self.size = offset
        self.names = list(self.segments)

    def sentinel(self, i: int) -> int:
        if not 0 <= i < self.num_sentinels:
            raise FourmError(f"sentinel {i} outside 0..{self.num_sentinels - 1}")
        return SENTINEL_BASE + i

    def is_sentinel(self, token: int) -> bool:
        return SENTINEL_BASE <= token < SENTINEL_BASE + self.num_sentinels

    def span(self, name: str) -> tuple[int, int]:
        s = self.segments[name]
        return s.offset, s.offset + s.vocab_size

    def unified(self, name: str, ids: np.ndarray) -> np.ndarray:
        return np.asarray(ids, dtype=np.int64) + self.segments[name].offset

    def local(self, name: str, ids: Any) -> np.ndarray:
        return np.asarray(ids, dtype=np.int64) - self.segments[name].offset

    def max_length(self, order: list[str], max_spans: int) -> int:
        body = sum(self.segments[n].num_tokens for n in order) + max(len(order) - 1, 0)
        return 2 + body + 2 * max_spans


def interleave(sample: dict[str, np.ndarray], order: list[str], layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """``(body ids, segment index per token)``: the sample's segments joined by ``<break>`` (-1 = special)."""
    ids, seg = [], []
    for k, name in enumerate(order):
        s = layout.segments[name]
        local = np.asarray(sample[name]).reshape(-1).astype(np.int64)
        if s.sequence:
            local = local[(local != LOCAL_PAD) & (local != LOCAL_EOS)][: s.num_tokens]
        if k:
            ids.append(np.array([BREAK]))
            seg.append(np.array([-1]))
        ids.append(local + s.offset)
        seg.append(np.full(len(local), layout.names.index(name)))
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(ids).astype(np.int64), np.concatenate(seg).astype(np.int64)


def choose_spans(seg: np.ndarray, rng: np.random.Generator, count: int, mean: float) -> list[tuple[int, int]]:
    """Up to ``count`` disjoint ``[start, stop)`` spans, each inside one segment (never a ``<break>``)."""
    spans: list[tuple[int, int]] = []
    taken = seg < 0
    for _ in range(count):
        for _try in range(10):
            free = np.flatnonzero(~taken)
            if not len(free):
                return sorted(spans)
            start = int(rng.choice(free))
            length = int(min(rng.geometric(1.0 / mean), 4 * mean))
            stop = start
            while stop < len(seg) and stop - start < length and not taken[stop] and seg[stop] == seg[start]:
                stop += 1
            if stop > start:
                spans.append((start, stop))
                taken[max(start - 1, 0):stop + 1] = True  # spans never touch: each keeps its own sentinel
                break
    return sorted(spans)


def cm3_sequence(body: np.ndarray, seg: np.ndarray, spans: list[tuple[int, int]], layout: Layout
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``[BOS] body-with-sentinels [S_0] span_0 [S_1] span_1 … [EOS]`` (no spans: ``[BOS] body [EOS]``)."""
    ids, segs, tail, tail_seg, last = [BOS], [-1], [], [], 0
    for i, (start, stop) in enumerate(spans):
        ids += [*body[last:start], layout.sentinel(i)]
        segs += [*seg[last:start], -1]
        tail += [layout.sentinel(i), *body[start:stop]]
        tail_seg += [-1, *seg[start:stop]]
        last = stop
    ids += [*body[last:], *tail, EOS]
    segs += [*seg[last:], *tail_seg, -1]
    return np.asarray(ids, dtype=np.int64), np.asarray(segs, dtype=np.int64)


def uncm3(ids: list[int] | np.ndarray, layout: Layout) -> list[int]:
    """The original ``[BOS] body [EOS]`` of a CM3 sequence: each sentinel replaced by its span."""
    ids = [int(t) for t in ids]
    end = ids.index(EOS) if EOS in ids else len(ids)
    first = {}
    for pos, t in enumerate(ids[:end]):
        if layout.is_sentinel(t):
            first.setdefault(t, []).append(pos)
    tail_start = min((p[1] for p in first.values() if len(p) > 1), default=end)
    spans, cur = {}, None
    for t in ids[tail_start:end]:
        if layout.is_sentinel(t):
            cur = t
            spans[cur] = []
        elif cur is not None:
            spans[cur].append(t)
    out = []
    for t in ids[:tail_start]:
        out += spans.get(t, [t]) if layout.is_sentinel(t) else [t]
    return [*out, EOS]

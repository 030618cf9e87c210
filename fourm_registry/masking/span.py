"""T5-style span masking with sentinel tokens (4M's layout: the first sentinel is ``[S_1]``).

Input: kept tokens, each masked run replaced by one sentinel. Target: each sentinel followed
by the run it hides, then one final sentinel. :func:`merge_spans` undoes the split.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tokens import NUM_SENTINELS, is_sentinel, sentinel_id

MAX_DECAY_STEPS = 200  # after this many keep-prob reductions everything is masked
SPAN_CHUNKS_KEY = "span_chunks"  # extras key: ids -> sizes of chunks masked whole


def span_mask(seq: Sequence[int], keep_prob: float, rng: np.random.Generator,
              chunks: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """Keep each token with probability ``keep_prob``; masked runs become sentinels.

    ``chunks`` (token counts summing to ``len(seq)``) makes the choice per chunk instead, so a
    chunk such as a metadata ``key value`` pair is always kept or masked whole (4M-21).
    """
    if chunks is None:
        keep = rng.random(len(seq)) <= keep_prob
    else:
        keep = np.repeat(rng.random(len(chunks)) <= keep_prob, np.asarray(chunks, dtype=np.int64))
    inputs: list[int] = []
    targets: list[int] = []
    count, masked_before = 0, False
    for token, kept in zip(seq, keep):
        if kept:
            inputs.append(int(token))
            masked_before = False
            continue
        if not masked_before:
            count += 1
            inputs.append(sentinel_id(count))
            targets.append(sentinel_id(count))
        targets.append(int(token))
        masked_before = True
    targets.append(sentinel_id(count + 1))
    return inputs, targets


def mask_to_budget(seq: Sequence[int], budget: int, keep_prob: float, decay: float,
                   rng: np.random.Generator, chunks: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """Span-mask ``seq``, shrinking ``keep_prob`` by ``decay`` until the input fits ``budget``."""
    if budget <= 0:
        return [], span_mask(seq, 0.0, rng, chunks)[1]
    inputs, targets = span_mask(seq, keep_prob, rng, chunks)
    steps = 0
    while len(inputs) > budget:
        steps += 1
        keep_prob = keep_prob * decay if steps < MAX_DECAY_STEPS else 0.0
        inputs, targets = span_mask(seq, keep_prob, rng, chunks)
    return inputs, targets


def span_chunks(spec: object, ids: Sequence[int]) -> list[int] | None:
    """The chunk sizes a sequence plugin declares (``extras["span_chunks"](ids)``), checked."""
    fn = getattr(spec, "extras", {}).get(SPAN_CHUNKS_KEY)
    if fn is None:
        return None
    chunks = [int(c) for c in fn(list(ids))]
    if any(c <= 0 for c in chunks) or sum(chunks) != len(ids):
        raise ValueError(f"{getattr(spec, 'name', '?')}: extras['{SPAN_CHUNKS_KEY}'] gave chunk sizes {chunks} "
                         f"for {len(ids)} tokens (they must be positive and sum to the length)")
    return chunks


def truncate_target(targets: list[int], budget: int, rng: np.random.Generator) -> list[int]:
    """Cut an over-long target to ``budget`` tokens, always starting at a sentinel.

    A random sentinel (not the final one) starts the window when enough follows it;
    otherwise the earliest sentinel whose remainder fits.
    """
    if len(targets) <= budget:
        return targets
    if budget <= 0:
        return []
    starts = [i for i, t in enumerate(targets) if is_sentinel(t)]
    start = starts[int(rng.integers(max(1, len(starts) - 1)))]
    if len(targets) - start >= budget:
        return targets[start:start + budget]
    return targets[next(i for i in starts if len(targets) - i <= budget):]


def merge_spans(inputs: Sequence[int], targets: Sequence[int]) -> list[int]:
    """Put the target spans back in place of the input's sentinels (sentinels without a span vanish)."""
    spans: dict[int, list[int]] = {}
    current: int | None = None
    for token in targets:
        if is_sentinel(token):
            current = int(token)
            spans[current] = []
        elif current is not None:
            spans[current].append(int(token))
    merged: list[int] = []
    for token in inputs:
        merged.extend(spans.get(int(token), []) if is_sentinel(token) else [int(token)])
    return merged


def max_sentinels(max_length: int) -> int:
    """Sentinels a sequence of ``max_length`` tokens can need: one per masked run, plus the last."""
    return (max_length + 1) // 2 + 1


def check_sentinels(max_length: int, vocab_size: int, name: str) -> None:
    from ..errors import FourmError

    needed = max_sentinels(max_length)
    if needed >= NUM_SENTINELS:
        raise FourmError(f"Sequence modality {name!r}: max_length {max_length} may need {needed} "
                         f"sentinels, more than the {NUM_SENTINELS - 1} the vocabulary has.")
    if sentinel_id(needed) >= vocab_size:
        raise FourmError(f"Sequence modality {name!r}: vocab_size {vocab_size} is too small for "
                         f"sentinel ids up to {sentinel_id(needed)} (see fourm_registry.tokens).")

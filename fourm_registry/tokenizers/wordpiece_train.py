"""A WordPiece vocabulary learned by BPE merges with ties broken by the pair's text, so the
same corpus always gives the same vocabulary and the same ids.

The ``tokenizers`` library's trainer breaks count ties by hash-map order, which changes from
run to run (huggingface/tokenizers#1794): two trainings on one corpus can give different
vocabularies, so a whole fourm run would not reproduce. This trainer makes the same kind of
vocabulary (word-start pieces and ``##`` continuations, merged by pair frequency) and hands
it to ``tokenizers.models.WordPiece``; normalising and pre-tokenising stay the library's.
"""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer

Pair = tuple[str, str]


def _merged(a: str, b: str, prefix: str) -> str:
    return a + b[len(prefix):]


def word_counts(tok: Tokenizer, lines: Iterable[str]) -> Counter[str]:
    """Words as the tokenizer's own normaliser and pre-tokeniser split them."""
    counts: Counter[str] = Counter()
    norm, pre = tok.normalizer, tok.pre_tokenizer
    for line in lines:
        text = norm.normalize_str(line) if norm is not None else line
        counts.update(w for w, _ in pre.pre_tokenize_str(text))
    return counts


def learn_vocab(counts: Counter[str], vocab_size: int, special: Sequence[str], alphabet: Iterable[str],
                min_frequency: int = 2, prefix: str = "##") -> dict[str, int]:
    """Token → id: ``special`` first, then the sorted alphabet (word starts, then the continuations
    that occur),
    then one token per merge, most frequent pair first, ties broken by the pair's text."""
    chars = sorted(set(alphabet) | {c for w in counts for c in w})
    inner = sorted({c for w in counts for c in w[1:]})  # continuations only where words have them
    vocab: dict[str, int] = {}
    for token in [*special, *chars, *(prefix + c for c in inner)]:
        vocab.setdefault(token, len(vocab))
    words = [[w[0], *(prefix + c for c in w[1:])] for w in sorted(counts)]
    freq = [counts[w] for w in sorted(counts)]
    pairs: Counter[Pair] = Counter()
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    touched: set[Pair] = set()
    for i, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += freq[i]
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pairs.items()]  # lazy: stale entries are skipped when popped
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, best = heapq.heappop(heap)
        if pairs.get(best) != -neg:
            continue
        if -neg < min_frequency:
            break
        new = _merged(*best, prefix)
        vocab.setdefault(new, len(vocab))
        for i in sorted(where.pop(best)):
            old = words[i]
            for pair in zip(old, old[1:]):
                pairs[pair] -= freq[i]
                if pairs[pair] <= 0:
                    del pairs[pair]
            merged, j = [], 0
            while j < len(old):
                if j + 1 < len(old) and (old[j], old[j + 1]) == best:
                    merged.append(new)
                    j += 2
                else:
                    merged.append(old[j])
                    j += 1
            words[i] = merged
            for pair in zip(merged, merged[1:]):
                pairs[pair] += freq[i]
                where[pair].add(i)
            touched.update(zip(old, old[1:]), zip(merged, merged[1:]))
        pairs.pop(best, None)
        for pair in touched - {best}:
            if pair in pairs:
                heapq.heappush(heap, (-pairs[pair], pair))
        touched.clear()
    return vocab

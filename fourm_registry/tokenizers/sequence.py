"""Sequence modalities (captions, boxes…): ``spec.to_text`` → shared WordPiece ids, and back.

Several sequence modalities share one text vocabulary (``TokenizerSpec.shared``). Plugins
may list words that must be single tokens (e.g. class names) in
``spec.extras["text_tokens"]``; training a shared vocabulary gives them the ids right after
the coordinate tokens, in registry order.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FourmError
from ..spec import ModalityKind
from .adapter import sample_label
from .text import TOKENIZER_FILE, TextTokenizer

TEXT_TOKENS_KEY = "text_tokens"


class SequenceTokenizer:
    """One sequence modality's tokenizer over a (possibly shared) :class:`TextTokenizer`.

    ``encode`` returns 1-D int64 arrays of word-piece ids WITHOUT [SOS]/[EOS]/padding,
    truncated to ``spec.tokenizer.max_length``; masking adds sentinels and [EOS] later.
    """

    def __init__(self, spec: Any, text: TextTokenizer):
        self.spec = spec
        self.text = text
        self.truncated = 0  # values cut to max_length so far (counted, never silent)
        if text.vocab_size > spec.tokenizer.vocab_size:
            raise FourmError(
                f"Modality {spec.name!r}: text tokenizer {text.source} has {text.vocab_size} ids but "
                f"the modality's vocab_size is {spec.tokenizer.vocab_size}; set vocab_size to at "
                f"least {text.vocab_size}.")

    @property
    def vocab_size(self) -> int:
        return self.text.vocab_size

    def to_text(self, value: Any, key: Any = "?") -> str:
        try:
            text = self.spec.to_text(value)
        except Exception as exc:
            raise FourmError(f"Modality {self.spec.name!r}, sample {key}: cannot turn the value into "
                             f"text: {type(exc).__name__}: {exc}") from exc
        if not isinstance(text, str):
            raise FourmError(f"Modality {self.spec.name!r}, sample {key}: to_text returned "
                             f"{type(text).__name__}, not str.")
        return text

    def encode(self, values: Sequence[Any], keys: Sequence[Any] | None = None) -> list[np.ndarray]:
        texts = [self.to_text(v, sample_label(keys, i)) for i, v in enumerate(values)]
        limit = self.spec.tokenizer.max_length
        encoded = self.text.encode_batch(texts)
        self.truncated += sum(len(ids) > limit for ids in encoded)  # reported by fourm tokenize
        return [np.asarray(ids[:limit], dtype=np.int64) for ids in encoded]

    def decode_text(self, tokens: Any, key: Any = "?") -> str:
        try:
            return self.text.decode(np.asarray(tokens).reshape(-1).tolist())
        except ValueError as exc:
            raise FourmError(f"Modality {self.spec.name!r}, sample {key}: {exc}") from exc

    def decode(self, tokens: Sequence[Any], keys: Sequence[Any] | None = None) -> list[Any]:
        """Ids (generated ones too: stops at [EOS], ignores sentinels) → raw values."""
        return [self.spec.from_text(self.decode_text(t, sample_label(keys, i))) for i, t in enumerate(tokens)]

    def save_pretrained(self, path: str | Path) -> None:
        self.text.save_pretrained(path)


@functools.lru_cache(maxsize=8)
def _load_text(file: str, mtime_ns: int) -> TextTokenizer:
    return TextTokenizer.from_pretrained(file)


def sequence_tokenizer_factory(spec: Any, path: str | Path | None) -> SequenceTokenizer:
    """``TokenizerSpec.factory`` for sequence modalities: load ``path`` or start untrained.

    Modalities sharing one vocabulary share one loaded :class:`TextTokenizer` (cached per
    file and modification time).
    """
    if path is None:
        return SequenceTokenizer(spec, TextTokenizer.untrained())
    p = Path(path)
    file = p / TOKENIZER_FILE if p.is_dir() else p
    if not file.is_file():
        raise FourmError(f"No text tokenizer at {p} (expected {file}).")
    return SequenceTokenizer(spec, _load_text(str(file.resolve()), file.stat().st_mtime_ns))


# -- training a shared vocabulary -------------------------------------------------------
def sharing_specs(registry: Any, name: str) -> list[Any]:
    """Sequence modalities whose tokenizer is ``name``: those sharing it, or the modality itself."""
    specs = [s for s in registry.modalities.values()
             if s.kind is ModalityKind.SEQUENCE and (s.tokenizer.shared or s.name) == name]
    if not specs:
        names = sorted({s.tokenizer.shared or s.name for s in registry.modalities.values()
                        if s.kind is ModalityKind.SEQUENCE})
        raise FourmError(f"No sequence modality uses a text tokenizer called {name!r} "
                         f"(known: {', '.join(names) or 'none'}).")
    return specs


def extra_text_tokens(specs: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for spec in specs:
        out.extend(str(t) for t in spec.extras.get(TEXT_TOKENS_KEY, ()))
    return list(dict.fromkeys(out))


def corpus_from_files(paths: Iterable[str | Path]) -> Iterator[str]:
    """Non-empty lines of UTF-8 text files."""
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FourmError(f"Corpus file {path} does not exist.")
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    yield line.rstrip("\n")


def corpus_from_shards(shards: Any, registry: Any, specs: Sequence[Any], stats: Any = None) -> Iterator[str]:
    """The text of every sequence value of ``specs`` found in ``shards`` (bad values skipped)."""
    from ..shards import ReadStats, read_samples

    stats = stats if stats is not None else ReadStats()
    for sample in read_samples(shards, registry, stats=stats):
        for spec in specs:
            if spec.name in sample:
                try:
                    yield spec.to_text(sample[spec.name])
                except Exception as exc:
                    stats.skip(f"{spec.name}: {type(exc).__name__}")


def train_text_tokenizer(corpus: Iterable[str], registry: Any, name: str, vocab_size: int = 30000,
                         min_frequency: int = 2) -> TextTokenizer:
    """Train the shared vocabulary ``name`` with the extra tokens its modalities declare."""
    specs = sharing_specs(registry, name)
    return TextTokenizer.train(corpus, vocab_size, extra_text_tokens(specs), min_frequency)

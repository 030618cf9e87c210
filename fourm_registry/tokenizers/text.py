"""The shared WordPiece text vocabulary with 4M's special-token layout (see :mod:`..tokens`).

Built and trained with the ``tokenizers`` library (lowercasing BERT normaliser), saved as a
``tokenizers`` JSON plus the ``transformers`` files beside it, and able to load the
published 4M tokenizer JSON unchanged. Coordinate and extra (class-name) tokens are added
as *non-special* tokens in files we write, so ``decode(skip_special_tokens=True)`` keeps
them; :meth:`TextTokenizer.decode` strips special ids itself and so works for both kinds.
"""
from __future__ import annotations

import json
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from .. import tokens as T
from ..errors import FourmError
from .wordpiece_train import learn_vocab, word_counts

TOKENIZER_FILE = "tokenizer.json"
_ALPHABET = string.ascii_lowercase + string.digits + string.punctuation
# Two lines that make every ASCII character a word start and a continuation (``##x``), so
# even an untrained vocabulary never maps ASCII words to [UNK].
_ALPHABET_CORPUS = [" ".join(_ALPHABET), " ".join(f"x{c}{c}" for c in _ALPHABET)]
LAYOUT = T.SPECIAL_TOKENS + T.SENTINEL_TOKENS + T.COORD_TOKENS
# Ids decode() drops: padding, start/end, sentinels (coordinates and words survive).
_DROP = set(range(T.SENTINEL_BASE + T.NUM_SENTINELS))


def _empty_wordpiece() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return tok


def _mark_added_tokens(tok: Tokenizer, n_extra: int) -> Tokenizer:
    """Give the layout's added tokens the 4M flags; coordinates/extras become non-special."""
    data = json.loads(tok.to_str())
    first_coord, first_extra = T.COORD_BASE, len(LAYOUT)
    for entry in data["added_tokens"]:
        i = entry["id"]
        entry["single_word"] = i >= T.SENTINEL_BASE
        entry["normalized"] = first_extra <= i < first_extra + n_extra
        entry["special"] = i < first_coord
    return Tokenizer.from_str(json.dumps(data))


def build_wordpiece(corpus: Iterable[str], vocab_size: int, extra_tokens: Sequence[str] = (),
                    min_frequency: int = 2, deterministic: bool = True) -> Tokenizer:
    """Train a WordPiece vocabulary of ``vocab_size`` entries (layout + extras included).

    ``extra_tokens`` (e.g. class names) get the ids right after the coordinate tokens and
    are matched as whole (normalised) words, possibly spanning spaces ("traffic light").
    ``deterministic``: merges with ties broken by text (:mod:`.wordpiece_train`), so the
    same corpus gives the same ids; ``False`` uses the ``tokenizers`` library's trainer,
    faster on very large corpora but tie order varies between runs.
    """
    extras = list(dict.fromkeys(t.strip().lower() for t in extra_tokens))
    extras = [t for t in extras if t and t not in LAYOUT]
    special = LAYOUT + extras
    tok = _empty_wordpiece()
    if deterministic:
        counts = word_counts(tok, [*_ALPHABET_CORPUS, *corpus])
        vocab = learn_vocab(counts, max(vocab_size, len(special) + 1), special, _ALPHABET, min_frequency)
        trained = _empty_wordpiece()
        trained.model = models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                                         max_input_chars_per_word=100)
        trained.add_special_tokens(special)
        return _mark_added_tokens(trained, len(extras))
    trainer = trainers.WordPieceTrainer(
        vocab_size=max(vocab_size, len(special) + 1), min_frequency=min_frequency,
        special_tokens=special, initial_alphabet=list(_ALPHABET), continuing_subword_prefix="##",
        show_progress=False,
    )

    def lines() -> Iterable[str]:
        yield from _ALPHABET_CORPUS
        yield from corpus

    tok.train_from_iterator(lines(), trainer)
    return _mark_added_tokens(tok, len(extras))


def check_layout(tok: Tokenizer, source: str) -> None:
    """Raise unless ``tok`` has 4M's special-token ids (so its ids mean what the model expects)."""
    probes = {"[PAD]": T.PAD_ID, "[UNK]": T.UNK_ID, "[SOS]": T.SOS_ID, "[EOS]": T.EOS_ID,
              "[S_0]": T.sentinel_id(0), f"[S_{T.NUM_SENTINELS - 1}]": T.sentinel_id(T.NUM_SENTINELS - 1),
              "v0=0": T.coord_id(0, 0), f"v3={T.COORD_BINS - 1}": T.coord_id(3, T.COORD_BINS - 1)}
    wrong = {t: (tok.token_to_id(t), i) for t, i in probes.items() if tok.token_to_id(t) != i}
    if wrong:
        detail = ", ".join(f"{t!r} has id {got} (expected {want})" for t, (got, want) in wrong.items())
        raise FourmError(f"Text tokenizer {source} does not follow the 4M token layout: {detail}.")


class TextTokenizer:
    """A WordPiece tokenizer with 4M's layout; ``encode``/``decode`` work on plain text."""

    def __init__(self, tokenizer: Tokenizer, source: str = "(in memory)"):
        check_layout(tokenizer, source)
        self.tokenizer = tokenizer
        self.source = source

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    # -- construction --------------------------------------------------------------
    @classmethod
    def train(cls, corpus: Iterable[str], vocab_size: int = 30000, extra_tokens: Sequence[str] = (),
              min_frequency: int = 2) -> TextTokenizer:
        return cls(build_wordpiece(corpus, vocab_size, extra_tokens, min_frequency))

    @classmethod
    def untrained(cls) -> TextTokenizer:
        """Layout tokens plus single characters only: usable before any corpus is seen."""
        return cls(build_wordpiece([], 0, min_frequency=1), "(untrained)")

    @classmethod
    def from_pretrained(cls, path: str | Path) -> TextTokenizer:
        """Load a directory holding ``tokenizer.json`` or a ``tokenizers`` JSON file itself."""
        p = Path(path)
        file = p / TOKENIZER_FILE if p.is_dir() else p
        if not file.is_file():
            raise FourmError(f"No text tokenizer at {p} (expected {file}).")
        try:
            tok = Tokenizer.from_file(str(file))
        except Exception as exc:  # the tokenizers library raises plain Exceptions
            raise FourmError(f"Cannot read text tokenizer {file}: {exc}") from exc
        return cls(tok, str(file))

    def save_pretrained(self, path: str | Path) -> None:
        """Write ``tokenizer.json`` and the ``transformers`` tokenizer files into ``path``."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.to_transformers().save_pretrained(str(out))
        self.tokenizer.save(str(out / TOKENIZER_FILE))  # ours last: exactly this vocabulary

    def to_transformers(self) -> Any:
        """The same vocabulary as a ``transformers`` fast tokenizer."""
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast(
            tokenizer_object=self.tokenizer, pad_token="[PAD]", unk_token="[UNK]",
            bos_token="[SOS]", eos_token="[EOS]",
        )

    # -- use -----------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Text → word-piece ids (no [SOS]/[EOS], no padding)."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids → text: stops at [EOS], drops padding/[SOS]/sentinels, keeps coordinates.

        Raises ``ValueError`` for an id outside the vocabulary.
        """
        kept: list[int] = []
        for i in (int(x) for x in ids):
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside the text vocabulary (0..{self.vocab_size - 1})")
            if i == T.EOS_ID:
                break
            if i not in _DROP:
                kept.append(i)
        return self.tokenizer.decode(kept, skip_special_tokens=False)

    def token(self, token_id: int) -> str | None:
        return self.tokenizer.id_to_token(int(token_id))

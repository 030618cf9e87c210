"""``fourm tokenize``: pre-tokenise every modality that has a tokenizer, shard by shard.

Each input shard becomes an output shard of the same name holding every original member
(copied byte for byte) plus ``tok_<modality>`` arrays (int16 when the vocabulary fits, else
int32). Finished output shards are skipped, so a killed run resumes where it stopped; a
shard is written under a temporary name and renamed when complete. Samples with a value a
tokenizer cannot take are skipped and counted, never written half-tokenised.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FourmError
from ..provenance import PROVENANCE_MEMBER, decode_member, encode_member, merged
from ..shards import (TOKEN_PREFIX, AtomicShardWriter, BadSample, ReadStats, decode_sample, expand_shards,
                      iter_raw)


def token_dtype(vocab_size: int) -> type[np.integer]:
    return np.int16 if vocab_size <= np.iinfo(np.int16).max + 1 else np.int32


@dataclass
class TokenizeReport:
    shards_written: int = 0
    shards_skipped: int = 0  # already finished by an earlier run
    samples_written: int = 0
    bad_samples: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)  # modality -> token arrays written
    seconds: float = 0.0

    def bad(self, reason: str) -> None:
        self.bad_samples += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def _encode(tok: Any, values: list[Any], keys: list[Any]) -> list[Any]:
    """``tok.encode`` with sample keys for its error messages, if it accepts them."""
    try:
        return tok.encode(values, keys=keys)
    except TypeError as exc:
        if "keys" not in str(exc):
            raise
        return tok.encode(values)


def _fingerprints(tokenizers: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each tokenizer's fingerprint, from a temporary ``save_pretrained`` copy."""
    import tempfile

    from ..provenance import tokenizer_fingerprint

    out = {}
    for name, tok in tokenizers.items():
        spec = getattr(tok, "spec", None)
        label = (spec.tokenizer.shared or spec.name) if spec is not None else name
        with tempfile.TemporaryDirectory() as tmp:
            try:
                tok.save_pretrained(tmp)
                out[name] = {"tokenizer": label, "fingerprint": tokenizer_fingerprint(tmp)}
            except (FourmError, OSError, NotImplementedError, AttributeError):
                out[name] = {"tokenizer": label, "fingerprint": None}  # cannot be saved: name only
    return out


def _reason(exc: Exception) -> str:
    """A short, countable reason: drop the sample key from the message."""
    text = str(exc)
    if ", sample " in text:
        head, _, tail = text.partition(", sample ")
        text = head + ":" + tail.split(":", 1)[-1]
    return text[:100]


class _Batch:
    """Samples waiting to be tokenised together (raw members kept for byte-exact copying)."""

    def __init__(self) -> None:
        self.raw: list[dict[str, Any]] = []
        self.decoded: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.raw)


def _encode_batch(batch: _Batch, tokenizers: Mapping[str, Any], report: TokenizeReport,
                  provenance: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Tokenise a batch; returns the samples to write (bad ones left out and counted), each
    recording the fingerprints of the tokenizers that made its tokens."""
    bad: dict[int, str] = {}
    tokens: list[dict[str, np.ndarray]] = [{} for _ in range(len(batch))]
    for name, tok in tokenizers.items():
        idx = [i for i, s in enumerate(batch.decoded) if name in s and i not in bad]
        if not idx:
            continue
        dtype = token_dtype(tok.vocab_size)
        keys = [batch.decoded[i]["__key__"] for i in idx]
        try:
            arrays = _encode(tok, [batch.decoded[i][name] for i in idx], keys)
        except Exception:  # find the culprit(s) one by one
            arrays = []
            for i, key in zip(idx, keys):
                try:
                    arrays.append(_encode(tok, [batch.decoded[i][name]], [key])[0])
                except Exception as exc:
                    bad[i] = _reason(exc) if isinstance(exc, FourmError) else \
                        f"{name}: {type(exc).__name__}: {str(exc)[:60]}"
                    arrays.append(None)
        for i, arr in zip(idx, arrays):
            if arr is not None and i not in bad:
                tokens[i][TOKEN_PREFIX + name] = np.asarray(arr).astype(dtype)
    out = []
    for i, raw in enumerate(batch.raw):
        if i in bad:
            report.bad(bad[i])
            continue
        sample: dict[str, Any] = {"__key__": raw["__key__"]}
        for suffix, data in raw.items():
            stem = suffix.split(".", 1)[0]
            if suffix.startswith("__") or (stem.startswith(TOKEN_PREFIX) and stem in tokens[i]):
                continue
            if stem.startswith(TOKEN_PREFIX):  # earlier tokens of another modality: keep
                sample[stem] = batch.decoded[i][stem]
            else:
                sample[suffix] = data  # bytes: copied through unchanged
        sample.update(tokens[i])
        made = {f[len(TOKEN_PREFIX):] for f in tokens[i]}
        if provenance and made:
            sample[PROVENANCE_MEMBER] = encode_member(merged(
                decode_member(raw.get(PROVENANCE_MEMBER)), tokens={n: provenance[n] for n in made if n in provenance}))
        for field_name in tokens[i]:
            name = field_name[len(TOKEN_PREFIX):]
            report.tokens[name] = report.tokens.get(name, 0) + 1
        out.append(sample)
    return out


def tokenize_shard(src: str, dst: Path, tokenizers: Mapping[str, Any], registry: Any,
                   report: TokenizeReport, batch_size: int = 32, provenance: Mapping[str, Any] | None = None) -> None:
    stats = ReadStats()
    with AtomicShardWriter(dst, registry) as writer:
        batch = _Batch()

        def flush() -> None:
            for sample in _encode_batch(batch, tokenizers, report, provenance):
                writer.write(sample)
                report.samples_written += 1
            batch.raw.clear()
            batch.decoded.clear()

        for raw in iter_raw([src], stats):  # an unreadable shard raises: never an empty "done" output
            try:
                decoded = decode_sample(registry, raw)
            except BadSample as exc:
                report.bad(f"undecodable: {exc.reason}")
                continue
            batch.raw.append(raw)
            batch.decoded.append(decoded)
            if len(batch) >= batch_size:
                flush()
        flush()
    report.bad_samples += stats.skipped  # refused by the tar reader (truncated, duplicate key…)
    for reason, n in stats.reasons.items():
        report.reasons[reason] = report.reasons.get(reason, 0) + n


def tokenize_shards(shards: Any, tokenizers: Mapping[str, Any], registry: Any, out_dir: str | Path,
                    batch_size: int = 32, on_shard: Callable[[str, str], None] | None = None,
                    provenance: Mapping[str, Any] | None = None) -> TokenizeReport:
    """Tokenise ``shards`` into ``out_dir`` (same file names); ``on_shard(path, status)`` reports.

    ``provenance`` maps a modality to its tokenizer's record (``provenance.tokenizer_records``
    of the directory the tokenizers were loaded from); by default each tokenizer is saved to a
    temporary directory and fingerprinted."""
    if not tokenizers:
        raise FourmError("No tokenizers to apply: the tokenizers directory holds none for these modalities.")
    out = Path(out_dir)
    sources = expand_shards(shards)
    names = [Path(s).name for s in sources]
    if len(set(names)) != len(names):
        raise FourmError("Input shards share file names; the output mirrors names, so they would collide.")
    for src in sources:
        if Path(src).resolve().parent == out.resolve():
            raise FourmError(f"--out {out} is the input directory; choose another directory.")
    report = TokenizeReport()
    if provenance is None:
        provenance = _fingerprints(tokenizers)
    start = time.perf_counter()
    for src in sources:
        dst = out / Path(src).name
        if dst.exists():
            report.shards_skipped += 1
            if on_shard is not None:
                on_shard(src, "skipped (done)")
            continue
        tokenize_shard(src, dst, tokenizers, registry, report, batch_size, provenance)
        report.shards_written += 1
        if on_shard is not None:
            on_shard(src, "written")
    for name, tok in tokenizers.items():
        cut = int(getattr(tok, "truncated", 0) or 0)
        if cut:
            report.reasons[f"{name}: longer than max_length, cut (kept; training ends it with [EOS])"] = cut
    report.seconds = time.perf_counter() - start
    return report

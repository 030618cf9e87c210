"""Checks on recorded provenance: which tokenizers made a run's tokens, and do they agree?"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import FourmError
from .provenance import PROVENANCE_MEMBER, decode_member, short, tokenizer_records

log = logging.getLogger("fourm.provenance")
OVERRIDE = "--allow-tokenizer-mismatch (modalities.allow_tokenizer_mismatch=true)"


def shard_token_fingerprints(shards: Any, names: Iterable[str],
                             where: str = "data.shards") -> dict[str, dict[str, list[str]]]:
    """``{modality: {fingerprint: [shard file names]}}`` read from the first sample of each shard;
    a shard that is not there is an error under the config field ``where`` names."""
    from .shards import expand_shards, iter_raw

    wanted = set(names)
    found: dict[str, dict[str, list[str]]] = {}
    try:
        urls = expand_shards(shards)
    except FourmError as exc:
        raise FourmError(f"{where}: {exc}") from None
    for url in urls:
        if "://" in str(url):
            continue  # remote shards are checked by whoever tokenised them
        for raw in iter_raw([url], bad_shards="skip"):
            prov = decode_member(raw.get(PROVENANCE_MEMBER)) or {}
            for name, rec in (prov.get("tokens") or {}).items():
                if name in wanted and isinstance(rec, Mapping) and rec.get("fingerprint"):
                    found.setdefault(name, {}).setdefault(str(rec["fingerprint"]), []).append(Path(url).name)
            break
    return found


def _where(shards: list[str]) -> str:
    return ", ".join(shards[:2]) + (f" and {len(shards) - 2} more" if len(shards) > 2 else "")


def check_token_fingerprints(found: Mapping[str, Mapping[str, list[str]]], expected: Mapping[str, str],
                             allow: bool = False, expected_from: str = "the run's tokenizers") -> list[str]:
    """Refuse (``FourmError``) tokens from two tokenizers, or from another than ``expected``;
    with ``allow`` the same findings come back as warnings."""
    problems: list[str] = []
    for name in sorted(found):
        fps = found[name]
        if len(fps) > 1:
            (a, sa), (b, sb) = list(fps.items())[:2]
            problems.append(f"Modality {name!r}: the training shards hold tokens of two tokenizers, "
                            f"{short(a)} ({_where(sa)}) and {short(b)} ({_where(sb)})")
        elif name in expected and expected[name] not in fps:
            (a, sa), = fps.items()
            problems.append(f"Modality {name!r}: the training tokens come from tokenizer {short(a)} "
                            f"({_where(sa)}) but {expected_from} holds {short(expected[name])}")
    if problems and not allow:
        raise FourmError("; ".join(problems) + f". Re-tokenise with the right tokenizers, or pass {OVERRIDE}.")
    for p in problems:
        log.warning("%s (allowed by the override)", p)
    return problems


def run_token_provenance(shards: Any, registry: Any, names: list[str], tokenizer_dir: str | None,
                         allow: bool = False) -> dict[str, dict[str, str]]:
    """The fingerprints a training run uses (recorded in its checkpoints); refuses mismatches."""
    from .tokenizers.vocab import check_vocab_sizes

    check_vocab_sizes(tokenizer_dir, [registry.get_modality(n) for n in names])
    found = shard_token_fingerprints(shards, names)
    expected = {n: r["fingerprint"] for n, r in tokenizer_records(tokenizer_dir, registry, names).items()} \
        if tokenizer_dir and Path(tokenizer_dir).is_dir() else {}
    check_token_fingerprints(found, expected, allow, f"modalities.tokenizer_dir ({tokenizer_dir})")
    out = {n: {"fingerprint": fp} for n, fp in expected.items()}
    for name, fps in found.items():
        out.setdefault(name, {"fingerprint": next(iter(fps))})
    return out


def generation_mismatches(checkpoint: str | Path, tokenizer_dir: str | Path, registry: Any,
                          names: Iterable[str]) -> list[str]:
    """One line per modality whose tokenizer in ``tokenizer_dir`` is not the one the model was
    trained on (``fourm generate`` warns; decoding with another tokenizer gives garbage)."""
    from .provenance import read_export_provenance

    info = read_export_provenance(checkpoint) or {}
    trained = info.get("trained_on") or {}
    if not trained or not Path(tokenizer_dir).is_dir():
        return []
    names = [n for n in names if n in trained]
    have = tokenizer_records(tokenizer_dir, registry, names)
    out = []
    for name in names:
        want, got = trained[name].get("fingerprint"), (have.get(name) or {}).get("fingerprint")
        if want and got and want != got:
            out.append(f"Modality {name!r}: the model was trained on tokens of tokenizer {short(want)}, "
                       f"but {Path(tokenizer_dir) / have[name]['tokenizer']} is {short(got)}; "
                       "its outputs will not decode correctly.")
    return out

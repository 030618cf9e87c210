"""The shared text vocabulary's final size: printed, written beside the tokenizer, checked against configs.

A shared vocabulary always holds 4M's layout ids (special, sentinel and coordinate tokens)
plus every installed plugin's ``extras["text_tokens"]``, so it can come out larger than the
``--vocab-size`` asked for; a config whose ``vocab_size`` is smaller fails with one line.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import FourmError
from ..spec import ModalityKind
from .sequence import TEXT_TOKENS_KEY
from .text import LAYOUT, TOKENIZER_FILE

VOCAB_FILE = "fourm_vocab.json"


def write_vocab_info(out: str | Path, text: Any, specs: Iterable[Any], requested: int) -> dict[str, Any]:
    """Write ``fourm_vocab.json`` next to the tokenizer: its size and where the ids come from."""
    specs = list(specs)
    extras = {s.name: len(s.extras.get(TEXT_TOKENS_KEY, ())) for s in specs if s.extras.get(TEXT_TOKENS_KEY)}
    info = {"vocab_size": int(text.vocab_size), "requested": int(requested), "layout_ids": len(LAYOUT),
            "text_tokens": extras, "modalities": [s.name for s in specs]}
    Path(out, VOCAB_FILE).write_text(json.dumps(info, indent=2))
    return info


def describe(info: dict[str, Any]) -> str:
    extra = sum(info["text_tokens"].values())
    where = ", ".join(f"{n} {k}" for n, k in info["text_tokens"].items()) or "none"
    line = (f"Text vocabulary: {info['vocab_size']:,} ids ({info['layout_ids']:,} layout ids, {extra:,} whole-word "
            f"tokens from plugins [{where}], the rest learned), shared by {', '.join(info['modalities'])}; "
            f"written to {VOCAB_FILE}.")
    if info["vocab_size"] > info["requested"]:
        line += (f" It is larger than the {info['requested']:,} asked for: set vocab_size to at least "
                 f"{info['vocab_size']} for these modalities in your config.")
    return line


def saved_vocab_size(path: str | Path) -> int | None:
    """The size of the text tokenizer saved at ``path`` (from ``fourm_vocab.json``, else its JSON)."""
    p = Path(path)
    if (p / VOCAB_FILE).is_file():
        return int(json.loads((p / VOCAB_FILE).read_text())["vocab_size"])
    if (p / TOKENIZER_FILE).is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(p / TOKENIZER_FILE)).get_vocab_size()
    return None


def check_vocab_sizes(tokenizer_dir: str | Path | None, specs: Iterable[Any], where: str = "modalities.settings") -> None:
    """Refuse a sequence modality whose ``vocab_size`` is smaller than its saved shared vocabulary."""
    if not tokenizer_dir or not Path(tokenizer_dir).is_dir():
        return
    for spec in specs:
        if spec.kind is not ModalityKind.SEQUENCE or not spec.has_tokenizer:
            continue
        path = Path(tokenizer_dir) / (spec.tokenizer.shared or spec.name)
        size = saved_vocab_size(path)
        if size is not None and size > spec.tokenizer.vocab_size:
            raise FourmError(f"{where}.{spec.name}.vocab_size is {spec.tokenizer.vocab_size} but the text "
                             f"tokenizer at {path} has {size:,} ids (layout + plugins' text_tokens + learned "
                             f"words); set it to at least {size}.")

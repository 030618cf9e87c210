"""Which tokenizer serves which modality: ``--tokenizer MOD=SOURCE`` flags or a mapping file.

A source is a saved tokenizer directory (fourm's own or the released 4M layout) or a hub id
such as ``EPFL-VILAB/4M_tokenizers_<name>``. A mapping file (YAML or JSON) maps modality
names to sources, one ``<modality>: <directory or hub id>`` per line.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import RootModel, ValidationError

from ..errors import FourmError


class TokenizerSources(RootModel[dict[str, str]]):
    """The mapping file: modality name → tokenizer directory or hub id."""


def read_mapping_file(path: Path) -> dict[str, str]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
        return dict(TokenizerSources.model_validate(data or {}).root)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FourmError(f"Tokenizer mapping {path}: expected 'modality: directory-or-hub-id' lines ({first}).") from exc


def parse_tokenizer_sources(items: Iterable[str]) -> dict[str, str]:
    """``['<modality>=EPFL-VILAB/…', 'map.yaml']`` → ``{modality: source}`` (later items win)."""
    out: dict[str, str] = {}
    for item in items:
        text = item.strip()
        if not text:
            continue
        if "=" in text:
            name, source = (s.strip() for s in text.split("=", 1))
            if not name or not source:
                raise FourmError(f"--tokenizer {item!r}: expected MODALITY=DIRECTORY_OR_HUB_ID.")
            out[name] = str(Path(source).expanduser()) if Path(source).expanduser().exists() else source
        elif Path(text).is_file():
            base = Path(text).parent
            for name, source in read_mapping_file(Path(text)).items():
                local = (base / source).expanduser()
                out[name] = str(local) if not Path(source).is_absolute() and local.exists() else source
        else:
            raise FourmError(f"--tokenizer {item!r}: expected MODALITY=DIRECTORY_OR_HUB_ID or a mapping file.")
    return out

"""ml-4m domain names ↔ fourm modalities, from what each plugin declares in ``ModalitySpec.domains``.

A template such as ``tok_x@{image_size}`` answers ``tok_x@224`` and ``tok_x@448`` and gives the
image size; a plain template answers only itself. The core names no domain: ``domains.json``
only tells, for a domain no installed plugin answers, which distribution would.
"""
from __future__ import annotations

import fnmatch
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import FourmError
from ...spec import ModalitySpec

_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class DomainMatch:
    """The modality answering a domain, and the sizes the name fixes (e.g. ``image_size``)."""

    modality: str
    sizes: dict[str, int]


def _pattern(template: str) -> re.Pattern[str]:
    parts, last = [], 0
    for m in _FIELD.finditer(template):
        parts.append(re.escape(template[last:m.start()]))
        parts.append(f"(?P<{m.group(1)}>[0-9]+)")
        last = m.end()
    parts.append(re.escape(template[last:]))
    return re.compile("^" + "".join(parts) + "$")


def match(spec: ModalitySpec, domain: str) -> dict[str, int] | None:
    """The sizes ``domain`` gives ``spec`` if one of its templates answers it, else ``None``."""
    for template in spec.domains:
        m = _pattern(template).match(domain)
        if m:
            return {k: int(v) for k, v in m.groupdict().items()}
    return None


@functools.cache
def _catalogue() -> dict[str, str]:
    data = json.loads((Path(__file__).with_name("domains.json")).read_text())
    return dict(data["domains"])


def provider_hint(domain: str) -> str:
    """Which distribution to install for ``domain`` (from the catalogue), as a sentence."""
    for pattern, dist in _catalogue().items():
        if fnmatch.fnmatchcase(domain, pattern):
            return f"it is provided by the distribution {dist!r} (pip install {dist})"
    return "no known fourm distribution provides it"


def resolve(registry: Any, domain: str) -> DomainMatch:
    """The registered modality answering ``domain``; one clear error if none or several do."""
    hits = [(name, sizes) for name, spec in registry.modalities.items()
            if (sizes := match(spec, domain)) is not None]
    if not hits:
        raise FourmError(f"ml-4m domain {domain!r} is answered by no installed modality plugin: "
                         f"{provider_hint(domain)}.")
    if len(hits) > 1:
        raise FourmError(f"ml-4m domain {domain!r} is answered by several modalities "
                         f"({', '.join(n for n, _ in hits)}); uninstall all but one.")
    name, sizes = hits[0]
    return DomainMatch(name, sizes)


def domain_name(spec: ModalitySpec) -> str:
    """The ml-4m name of ``spec`` at its current size (recorded name first, else its first template)."""
    recorded = spec.extras.get("ml4m_domain")
    if isinstance(recorded, str):
        return recorded
    if not spec.domains:
        raise FourmError(f"Modality {spec.name!r} declares no ml-4m domain name (ModalitySpec.domains): "
                         "it cannot be written in the ml-4m layout.")
    values = {"image_size": spec.tokenizer.image_size, "patch_size": spec.tokenizer.patch_size,
              "max_length": spec.tokenizer.max_length}
    return spec.domains[0].format(**{k: v for k, v in values.items() if v is not None})

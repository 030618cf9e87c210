"""The config reference in the README, generated from the pydantic models (a test keeps it in sync).

Each field's meaning is its ``Field(description=...)`` or the ``# comment`` on its line in
the model's source. Regenerate with ``python -m fourm_registry.config_docs --write README.md``.
"""
from __future__ import annotations

import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
_LINE = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")


def _comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from ``name: type = default  # comment`` lines of the model and its bases."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            m = _LINE.match(line)
            if m and not m.group(2).startswith(("type:", "noqa")):
                out[m.group(1)] = m.group(2).strip()
    return out


def _models(annotation: Any) -> list[type]:
    """The pydantic models inside an annotation (``X | None``, ``list[X]``, ``SerializeAsAny[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _type(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_type(a) for a in args)
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "")
    text = re.sub(r"<class '([\w.]+)'>", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = re.sub(r"\b(?:[a-z_]+\.)+([A-Z]\w*)", r"\1", text)
    return text.replace("NoneType", "None").replace("|", "\\|")


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{value!r}`".replace("|", "\\|")


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(key, type, default, meaning)`` for every field, nested sections expanded."""
    notes = _comments(model)
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        meaning = _cell(field.description or notes.get(name, ""))
        nested = _models(field.annotation)
        if not meaning and len(nested) == 1:
            meaning = _cell((inspect.getdoc(nested[0]) or "").split("\n")[0])
        out.append((key, _type(field.annotation), _default(field), meaning))
        if len(nested) == 1 and nested[0] is not model:
            origin = typing.get_origin(field.annotation)
            sep = ".<name>." if origin is dict else "[]." if origin is list else "."
            out.extend(rows(nested[0], f"{key}{sep}"))
    return out


def reference() -> str:
    """The markdown between the README's markers."""
    from .training.config import TrainConfig

    lines = [START, "", "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in rows(TrainConfig)]
    lines += ["", END]
    return "\n".join(lines)


def update(readme: str | Path) -> bool:
    """Rewrite the reference in ``readme``; returns whether it changed."""
    path = Path(readme)
    text = path.read_text()
    a, b = text.index(START), text.index(END) + len(END)
    new = text[:a] + reference() + text[b:]
    path.write_text(new)
    return new != text


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        print("updated" if update(sys.argv[2]) else "unchanged")
    else:
        print(reference())

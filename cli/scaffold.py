"""``fourm plugin new``: the files of a new plugin distribution, ready to install and test.

The scaffold is a working plugin (a spec on the framework's toolkit, a labeler stub that
says "write me", a pyproject with the ``fourm`` entry point and a tests/ module running
the conformance kit), so ``pip install -e DIR[test] && pytest DIR/tests`` passes unchanged.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

from fourm_registry import FourmError, __version__

from .scaffold_kinds import KINDS, TEMPLATES, TOOLKIT

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title}: a fourm modality plugin"
requires-python = ">=3.10"
dependencies = ["fourm>={min_version}"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.fourm]
{name} = "{module}"

[tool.setuptools]
packages = ["{module}"]
'''

INIT = '''\
"""fourm plugin: the ``{name}`` modality ({kind})."""
from __future__ import annotations

from fourm_registry import hookimpl

from .spec import SPEC


@hookimpl
def register_modalities(register):
    register(SPEC)
'''

LABELER = '''\
"""The ``{name}`` pseudo-labeler: ``make_labeler(model, device)`` returns ``labeler(images) -> values``."""
from __future__ import annotations

from typing import Any

from fourm_registry import FourmError


def make_labeler(model: str | None, device: str) -> Any:
    """Build the labeler from a model id or path (``fourm label -m {name} --model ...``)."""
    raise FourmError("The {name} labeler is a stub: write it in {module}/labeler.py "
                     "(make_labeler(model, device) -> a callable on RGB images returning {name} values).")
'''

TESTS = '''\
"""The conformance kit on the ``{name}`` modality, and the labeler stub's message."""
from __future__ import annotations

import pytest

from fourm_registry import FourmError, Registry
from fourm_registry.testing import ModalityConformance


class Test{cls}Conformance(ModalityConformance):
    modalities = ("{name}",)
    allow = ("{name}",)  # load this plugin's entry point only (besides the built-ins)


def test_the_labeler_stub_says_write_me():
    spec = Registry.build(allow=["{name}"]).get_modality("{name}")
    with pytest.raises(FourmError, match="stub: write it"):
        spec.create_labeler()
'''

README = '''\
# {dist}

A [fourm](https://github.com/) modality plugin: `{name}` ({kind}).

```bash
pip install -e .[test]
pytest tests            # the conformance kit on {name}
fourm modalities        # lists {name}
fourm plugin check {name}
```

Edit `{module}/spec.py` (value, sizes, codec, tokenizer) and `{module}/labeler.py`.
'''


def files(name: str, kind: str) -> dict[str, str]:
    """``{relative path: text}`` of the distribution ``fourm-<name>``."""
    if not NAME.match(name) or name.startswith("tok_"):
        raise FourmError(f"Plugin name {name!r} must be a modality name: lowercase letters, digits and '_', "
                         "starting with a letter (not 'tok_').")
    if kind not in TEMPLATES:
        raise FourmError(f"Unknown kind {kind!r}; choose one of {', '.join(KINDS)}.")
    module, dist = f"fourm_{name}", f"fourm-{name.replace('_', '-')}"
    title = name.replace("_", " ").capitalize()
    cls = "".join(p.capitalize() for p in name.split("_"))
    fields = {"name": name, "kind": kind, "module": module, "dist": dist, "title": title, "cls": cls,
              "min_version": __version__.split("+")[0]}
    body = TEMPLATES[kind].replace("{imports}", "@@IMPORTS@@").format(**fields)
    used = [n for n in TOOLKIT if re.search(rf"\b{n}\b", body.replace("@@IMPORTS@@", ""))]
    imports = textwrap.fill(", ".join(used), width=100, initial_indent="from fourm_registry import (",
                            subsequent_indent=" " * 28) + ")"
    return {
        "pyproject.toml": PYPROJECT.format(**fields),
        "README.md": README.format(**fields),
        f"{module}/__init__.py": INIT.format(**fields),
        f"{module}/spec.py": body.replace("@@IMPORTS@@", imports),
        f"{module}/labeler.py": LABELER.format(**fields),
        f"tests/test_{name}.py": TESTS.format(**fields),
    }


def write(name: str, kind: str, out: str | Path, force: bool = False) -> Path:
    """Write the distribution into ``out/fourm-<name>`` and return that directory."""
    content = files(name, kind)
    root = Path(out) / f"fourm-{name.replace('_', '-')}"
    if root.exists() and any(root.iterdir()) and not force:
        raise FourmError(f"{root} already exists and is not empty (use --force to overwrite).")
    for rel, text in content.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root

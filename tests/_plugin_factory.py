"""Build a tiny third-party fourm plugin distribution in a temp dir (used by several tests)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN_SOURCE = '''
from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import npy_codec


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="thermal", kind=ModalityKind.DENSE, description="Thermal camera",
        tokenizer=TokenizerSpec(vocab_size=1024, image_size=64, patch_size=8),
        masking=MaskingSpec(rule="uniform"), codec=npy_codec(dtype="float32", ndim=2),
    ))


@hookimpl
def register_commands(cli):
    @cli.command("thermal-hello")
    def hello():
        """Say hello from the thermal plugin."""
        print("hello from thermal")
'''


def build_plugin(tmp: Path, name: str = "fourm-thermal", module: str = "fourm_thermal",
                 source: str = PLUGIN_SOURCE) -> Path:
    """``pip install --target`` a real distribution exposing a ``fourm`` entry point.

    Returns the directory to put on ``sys.path`` (it holds the package and its dist-info).
    """
    src = tmp / "src"
    (src / module).mkdir(parents=True)
    (src / module / "__init__.py").write_text(textwrap.dedent(source))
    (src / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{name}"
        version = "0.1.0"
        [project.entry-points.fourm]
        {module.removeprefix("fourm_")} = "{module}"
        [tool.setuptools]
        packages = ["{module}"]
    '''))
    site = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)],
        check=True, capture_output=True,
    )
    return site

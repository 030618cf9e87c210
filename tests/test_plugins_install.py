"""The 4M-21 plugins under plugins/: real distributions that join a registry with no core change."""
from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fourm_cli.app import build_app
from fourm_registry import Registry
from fourm_registry.testing import check_declaration, check_masking

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
ENTRY_POINTS = {
    name: target
    for d in PLUGIN_DIRS
    for name, target in tomllib.loads((d / "pyproject.toml").read_text())["project"]
    .get("entry-points", {}).get("fourm", {}).items()
}
BUILTINS = set(Registry.build(allow=[]).modalities)


def plugin_modules():
    return [importlib.import_module(target) for target in ENTRY_POINTS.values()]


def test_each_plugin_is_its_own_installed_distribution():
    assert len(ENTRY_POINTS) >= 7
    installed = {ep.name: ep.value for ep in md.entry_points(group="fourm")}
    for name, target in ENTRY_POINTS.items():
        assert installed.get(name) == target, f"plugin {name!r} is not installed (make setup)"
    test_files = [f.name for d in PLUGIN_DIRS for f in (d / "tests").glob("test_*.py")]
    assert len(test_files) == len(set(test_files)) >= len(ENTRY_POINTS)  # unique, every plugin tested
    assert not any((d / "tests" / "__init__.py").exists() for d in PLUGIN_DIRS)


def test_plugins_join_a_fresh_registry_beside_the_builtins():
    reg = Registry.build(*plugin_modules(), entrypoints=True, allow=[])
    added = set(reg.modalities) - BUILTINS
    assert len(added) >= 14 and len(reg.modalities) >= 21
    for name in sorted(added):
        check_declaration(reg, name)
        check_masking(reg, name, draws=3)
        assert reg.provider(name) in {m.__name__ for m in plugin_modules()}
        assert reg.labelers_for(name), f"{name} has no labeler"


def test_the_core_names_no_plugin_modality():
    added = set(Registry.build().modalities) - BUILTINS
    core = "\n".join(p.read_text() for p in (ROOT / "fourm_registry").rglob("*.py"))
    named = sorted(n for n in added if re.search(rf"['\"]{n}['\"]", core))
    assert not named, f"fourm_registry names plugin modalities {named}"


def test_fourm_modalities_lists_them_all(runner):
    result = runner.invoke(build_app(Registry.build()), ["modalities", "--json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert len(rows) >= 21
    for name in set(rows) - BUILTINS:
        assert rows[name]["labeler"] != "missing"
        want = "n/a" if rows[name]["kind"] == "embedding" else "yes"  # embeddings: projected, no tokenizer
        assert rows[name]["tokenizer"] == want, name
    assert rows["human_poses"]["plugin"] == "human_poses"
    assert "mediapipe_pose" in rows["human_poses"]["labeler"]


@pytest.mark.slow
@pytest.mark.parametrize("allow", ["", None], ids=["builtins-only", "all-plugins"])
def test_the_core_suite_passes_with_and_without_the_plugins(allow):
    env = {k: v for k, v in os.environ.items() if k != "FOURM_LOAD_PLUGINS"}
    if allow is not None:
        env["FOURM_LOAD_PLUGINS"] = allow
    seen = subprocess.run(
        [sys.executable, "-c", "from fourm_registry import Registry; print(len(Registry.build().modalities))"],
        env=env, capture_output=True, text=True, check=True)
    assert (int(seen.stdout) == len(BUILTINS)) == (allow == "")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/test_registry.py",
         "tests/test_spec.py", "tests/test_cli_core.py"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_a_model_with_every_registered_modality_trains_and_generates_each():
    from fourm_registry.testing import check_train_and_generate

    reg = Registry.build()
    generated = check_train_and_generate(reg, reg.list_modalities())
    predictable = {n for n, s in reg.modalities.items() if not s.input_only}
    assert len(generated) == len(predictable) - 1  # all but the grid modality given as the condition

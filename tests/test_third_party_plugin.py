"""A plugin that is not in this repo, installed as a real distribution, is found by entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fourm_registry import PluginError, Registry
from fourm_cli.app import build_app

from ._plugin_factory import build_plugin

BROKEN = '''
raise ImportError("needs the thermal SDK")
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    return build_plugin(tmp_path_factory.mktemp("thermal"))


@pytest.fixture
def on_path(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.delenv("FOURM_LOAD_PLUGINS", raising=False)
    return plugin_site


def test_entry_point_plugin_joins_the_registry(on_path):
    reg = Registry.build()
    spec = reg.get_modality("thermal")
    assert spec.num_tokens == 64 and reg.provider("thermal") == "thermal"


def test_it_shows_in_fourm_modalities_and_adds_a_command(on_path, runner):
    app = build_app(Registry.build())
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["modalities", "--json"]).output)}
    assert rows["thermal"]["plugin"] == "thermal" and rows["thermal"]["vocab"] == 1024
    result = runner.invoke(app, ["thermal-hello"])
    assert result.exit_code == 0 and "hello from thermal" in result.output


def test_allow_list_env(on_path, monkeypatch):
    monkeypatch.setenv("FOURM_LOAD_PLUGINS", "")
    assert "thermal" not in Registry.build().modalities  # empty: built-ins only
    assert "depth" in Registry.build().modalities
    monkeypatch.setenv("FOURM_LOAD_PLUGINS", "thermal")
    assert "thermal" in Registry.build().modalities


def test_installed_console_script_lists_it(plugin_site):
    env = {**os.environ, "PYTHONPATH": str(plugin_site), "FOURM_TRACE_HOOKS": "1"}
    env.pop("FOURM_LOAD_PLUGINS", None)
    fourm = Path(sys.executable).with_name("fourm")
    out = subprocess.run([str(fourm), "modalities", "--json"], env=env, capture_output=True,
                         text=True, check=True)
    assert "thermal" in {r["name"] for r in json.loads(out.stdout)}
    assert "[fourm hook] register_modalities -> thermal" in out.stderr  # tracing switch


def test_a_broken_plugin_is_named_and_the_cli_exits_nonzero(tmp_path):
    site = build_plugin(tmp_path, name="fourm-broken", module="fourm_broken", source=BROKEN)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("FOURM_LOAD_PLUGINS", None)
    fourm = Path(sys.executable).with_name("fourm")
    out = subprocess.run([str(fourm), "modalities"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "depth" in out.stdout  # listing still works, without it
    assert "Plugin 'broken' (from fourm-broken) failed to import: needs the thermal SDK" in out.stderr
    assert "FOURM_LOAD_PLUGINS" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([str(fourm), "train", "nothing.yaml"], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "(from fourm-broken)" in out.stderr and "FOURM_LOAD_PLUGINS" in out.stderr
    sys.path.insert(0, str(site))
    try:
        with pytest.raises(PluginError, match="needs the thermal SDK"):
            Registry.build()
    finally:
        sys.path.remove(str(site))

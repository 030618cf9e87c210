"""The fourm CLI shell: --version, `fourm modalities`, one-line user errors, --debug."""
from __future__ import annotations

import json
import types

from fourm_registry import FourmError, Registry, __version__, hookimpl
from fourm_cli.app import build_app


def test_version(runner, registry):
    result = runner.invoke(build_app(registry), ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"fourm {__version__}"


def test_modalities_table_lists_the_builtins(runner, registry):
    result = runner.invoke(build_app(registry), ["modalities"])
    assert result.exit_code == 0, result.output
    assert "8 modalities" in result.output
    for name in ["rgb", "depth", "normal", "semseg", "det", "caption", "clip", "rgb_pixels"]:
        assert name in result.output


def test_modalities_json_shows_kind_vocab_tokens_and_provider(runner, registry):
    result = runner.invoke(build_app(registry), ["modalities", "--json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["depth"]["kind"] == "dense" and rows["depth"]["vocab"] == 8192
    assert rows["depth"]["tokens"] == "14×14" and rows["caption"]["tokens"] == "≤256"
    assert rows["clip"]["plugin"] == "clip"
    assert set(rows["rgb"]) >= {"tokenizer", "labeler"}


def _failing_command_registry():
    ns = types.SimpleNamespace(__name__="failing")

    def register_commands(cli):
        @cli.command("explode")
        def explode():
            raise FourmError("the thing named 'x' is wrong")

    ns.register_commands = hookimpl(register_commands)
    return Registry.build(ns, allow=[])


def test_user_errors_are_one_line_without_traceback(runner):
    result = runner.invoke(build_app(_failing_command_registry()), ["explode"])
    assert result.exit_code == 1
    assert "Error: the thing named 'x' is wrong" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(runner):
    result = runner.invoke(build_app(_failing_command_registry()), ["--debug", "explode"])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "FourmError" in result.output

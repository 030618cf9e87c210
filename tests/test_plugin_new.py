"""``fourm plugin new`` writes distributions that install and pass their own tests unchanged;
``fourm plugin check`` runs the conformance kit on installed plugins."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fourm_registry import Registry, hookimpl
from fourm_cli.app import build_app
from fourm_cli.scaffold_kinds import KINDS

from ._torch_threads import one_torch_thread  # noqa: F401

NAMES = {kind: f"my_{kind}" for kind in KINDS}


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory) -> tuple[Path, Path]:
    """Every kind scaffolded by the CLI, then pip-installed (one call) into a temp target."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("plugins")
    app = build_app(Registry.build(allow=[]))
    for kind, name in NAMES.items():
        result = CliRunner().invoke(app, ["plugin", "new", name, "--kind", kind, "--out", str(root / "src")])
        assert result.exit_code == 0, result.output
    site = root / "site"
    dists = sorted(str(p) for p in (root / "src").iterdir())
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), *dists], check=True, capture_output=True)
    return root / "src", site


def test_the_scaffold_has_the_parts_a_plugin_needs(scaffolds):
    src, _ = scaffolds
    dist = src / "fourm-my-dense"
    assert {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()} >= {
        "pyproject.toml", "README.md", "fourm_my_dense/__init__.py", "fourm_my_dense/spec.py",
        "fourm_my_dense/labeler.py", "tests/test_my_dense.py"}
    assert 'my_dense = "fourm_my_dense"' in (dist / "pyproject.toml").read_text()


@pytest.mark.slow
def test_an_installed_scaffold_passes_its_own_tests(scaffolds):
    """The dense scaffold (a VQ tokenizer: the heaviest) runs its tests unchanged from the install."""
    src, site = scaffolds
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    env.pop("FOURM_LOAD_PLUGINS", None)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(src / "fourm-my-dense" / "tests")], env=env, capture_output=True, text=True, cwd=src)
    last = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0, out.stdout[-3000:]
    assert "6 passed" in last and "failed" not in last


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "dense"])  # dense: the test above
def test_installed_scaffolds_pass_plugin_check(scaffolds, monkeypatch, runner, kind):
    _, site = scaffolds
    monkeypatch.syspath_prepend(str(site))
    name = NAMES[kind]
    result = runner.invoke(build_app(Registry.build(allow=[name])), ["plugin", "check", name, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report) == [name] and not any(v.startswith("FAILED") for v in report[name].values())
    assert report[name]["declaration"] == report[name]["model"] == "ok"


def test_plugin_check_runs_the_kit_on_one_installed_plugin(scaffolds, monkeypatch, runner):
    _, site = scaffolds
    monkeypatch.syspath_prepend(str(site))
    reg = Registry.build(allow=["my_sequence", "my_embedding"])
    result = runner.invoke(build_app(reg), ["plugin", "check", "my_sequence", "--json", "--only",
                                            "declaration,codec,tokenizer,masking"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report) == ["my_sequence"] and set(report["my_sequence"].values()) == {"ok"}
    result = runner.invoke(build_app(reg), ["plugin", "check", "my_embedding", "--only", "declaration,tokenizer"])
    assert result.exit_code == 0 and "skipped: my_embedding: declares no tokenizer" in result.output


class _BrokenCodecPlugin:
    """One modality whose codec loses the value: the kit must say so."""

    @hookimpl
    def register_modalities(self, register):
        from fourm_cli.scaffold import files

        ns: dict = {}
        body = files("lossy", "embedding")["fourm_lossy/spec.py"].replace("from .labeler import make_labeler", "")
        exec(compile(body, "lossy", "exec"), {"make_labeler": lambda m, d: None, "__name__": "lossy"} | ns, ns)
        spec = ns["SPEC"]
        register(spec.model_copy(update={"codec": spec.codec.model_copy(update={"decode": lambda data: 0.0})}))


def test_plugin_check_reports_failures_and_exits_1(runner):
    reg = Registry.build(_BrokenCodecPlugin(), allow=[])
    result = runner.invoke(build_app(reg), ["plugin", "check", "lossy", "--only", "declaration,codec"])
    assert result.exit_code == 1
    assert "declaration  ok" in result.output and "codec        FAILED" in result.output


def test_plugin_new_refuses_bad_names_kinds_and_overwrites(tmp_path, runner):
    app = build_app(Registry.build(allow=[]))
    bad = runner.invoke(app, ["plugin", "new", "Bad-Name", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "must be a modality name" in bad.output
    bad = runner.invoke(app, ["plugin", "new", "ok", "--kind", "pixels", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "Unknown kind 'pixels'" in bad.output
    assert runner.invoke(app, ["plugin", "new", "ok", "--out", str(tmp_path / "a" / "b")]).exit_code == 0
    again = runner.invoke(app, ["plugin", "new", "ok", "--out", str(tmp_path / "a" / "b")])
    assert again.exit_code == 1 and "already exists" in again.output
    unknown = runner.invoke(app, ["plugin", "check", "nope"])
    assert unknown.exit_code == 1 and "No installed plugin or modality called 'nope'" in unknown.output

"""Every command, fed a handful of bad arguments and files, ends with one error line (exit 1)
or click's usage error (exit 2) — never a traceback, never an uncaught exception.

Commands are found by walking the app, so a new command is covered without editing this file:
each gets an unknown option, nonexistent paths and a garbage (non-UTF-8) file for its required
parameters; then hand-written cases for values that parse but are wrong.
"""
from __future__ import annotations

import time
from pathlib import Path

import click
import pytest
import typer

from fourm_cli.app import build_app
from fourm_modalities.labelers.tiny import save_tiny
from fourm_registry import Registry

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

REPORTERS = [["inspect"]]  # commands whose job is to report on a file: they may count it as unreadable
GARBAGE = b"\xff\xfe\x00 not text, not a tar, not yaml \xc3\x28" * 8


def leaf_commands() -> list[tuple[list[str], click.Command]]:
    root = typer.main.get_command(build_app(Registry.build(allow=[])))
    out = []
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)  # a group (typer vendors its own click classes)
        if subs:
            out += [([name, sub], c) for sub, c in subs.items()]
        else:
            out.append(([name], cmd))
    return out


LEAVES = leaf_commands()


def filled(cmd: click.Command, value: str) -> list[str]:
    """Arguments that fill every required parameter of ``cmd`` with ``value``."""
    args: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        if not getattr(p, "opts", None) or not p.opts[0].startswith("-"):  # an argument
            args.append(value)
        else:
            args += [p.opts[0], value]
    return args


def assert_clean_failure(result: click.testing.Result, what: str) -> None:
    out = result.output
    assert result.exit_code in (1, 2), f"{what}: exit {result.exit_code}\n{out[-800:]}"
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{what}: uncaught {type(result.exception).__name__}: {result.exception}"
    assert "Traceback" not in out, f"{what}:\n{out[-800:]}"
    if result.exit_code == 1:
        errors = [line for line in out.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, f"{what}: expected one 'Error:' line\n{out[-800:]}"
        assert len(errors[0]) > len("Error: ") + 10, f"{what}: an empty error: {errors[0]!r}"
    else:
        assert "Usage:" in out or "Error" in out, f"{what}:\n{out[-800:]}"


def test_the_walk_finds_the_commands() -> None:
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"train", "tokenize", "label", "generate", "tokenizer train"} <= names


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=[" ".join(p) for p, _ in LEAVES])
def test_unknown_option_and_bad_paths(path: list[str], tmp_path: Path, runner, registry,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cmd = dict((tuple(p), c) for p, c in LEAVES)[tuple(path)]
    app = build_app(registry)
    assert_clean_failure(runner.invoke(app, [*path, "--no-such-option"]), f"{path} --no-such-option")
    if not any(p.required for p in cmd.params):
        return
    assert_clean_failure(runner.invoke(app, [*path, *filled(cmd, str(tmp_path / "missing" / "x"))]),
                         f"{path} with nonexistent paths")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(GARBAGE)
    result = runner.invoke(app, [*path, *filled(cmd, str(garbage))])
    if path in REPORTERS and result.exit_code == 0:  # a report that counts the bad file is fine too
        assert "unreadable" in result.output, result.output
    else:
        assert_clean_failure(result, f"{path} with a garbage file")


def bad_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    (tmp / "list.yaml").write_text("- just\n- a list\n")
    (tmp / "latin1.yaml").write_bytes("data:\n  shards: caf\xe9\n".encode("latin-1"))
    (tmp / "bad.yaml").write_text("data: [unclosed\n")
    (tmp / "typo.yaml").write_text("modalities: {inputs: [rgb], targets: [rgb]}\ndata: {shards: x.tar}\n"
                                   "train: {batch_sise: 3}\n")
    (tmp / "empty.tar").write_bytes(b"")
    (tmp / "shards").mkdir()
    (tmp / "shards" / "000.tar").write_bytes(GARBAGE)
    return [
        ("train: a list, not a mapping", ["train", str(tmp / "list.yaml")]),
        ("train: not UTF-8", ["train", str(tmp / "latin1.yaml")]),
        ("train: invalid YAML", ["train", str(tmp / "bad.yaml")]),
        ("train: a typo in a key", ["train", str(tmp / "typo.yaml")]),
        ("train: --set without '='", ["train", str(tmp / "typo.yaml"), "--set", "train.lr"]),
        ("train: --set a brace pattern", ["train", str(tmp / "typo.yaml"), "--set", "data.shards={a,b}.tar"]),
        ("generate: negative temperature", ["generate", "--checkpoint", str(tmp), "--out", str(tmp / "o"),
                                            "--temperature", "-1"]),
        ("generate: zero steps", ["generate", "--checkpoint", str(tmp), "--out", str(tmp / "o"), "--steps", "0"]),
        ("tokenize: an unreadable shard", ["tokenize", "--data", str(tmp / "shards"), "--out", str(tmp / "t")]),
        ("tokenize: an empty file", ["tokenize", "--data", str(tmp / "empty.tar"), "--out", str(tmp / "t2")]),
        ("label: an unreadable shard", ["label", str(tmp / "shards" / "000.tar"), "--out", str(tmp / "l"),
                                        "-m", "depth", "--model", f"depth={save_tiny('depth', tmp / 'tiny')}"]),
        ("label: an unknown modality", ["label", str(tmp / "shards" / "000.tar"), "--out", str(tmp / "l2"),
                                        "-m", "nope"]),
        ("tokenizer train: no corpus", ["tokenizer", "train", "text", "--corpus", str(tmp / "none.txt"),
                                        "--out", str(tmp / "tok")]),
        ("modalities: an unknown flag value", ["modalities", "--json", "extra-argument"]),
    ]


@pytest.mark.slow
def test_bad_values_and_files(tmp_path: Path, runner, registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = build_app(registry)
    cases = bad_cases(tmp_path)
    for what, args in cases:
        start = time.perf_counter()
        assert_clean_failure(runner.invoke(app, args), what)
        assert time.perf_counter() - start < 30, what
    result = runner.invoke(app, ["train", str(tmp_path / "latin1.yaml")])
    assert "not UTF-8" in result.output
    tiny = Path(__file__).resolve().parent.parent / "configs" / "train_tiny.yaml"
    result = runner.invoke(app, ["train", str(tiny), "--set", "data.shards={a,b}.tar", "--set", f"out_dir={tmp_path}"])
    assert result.exit_code == 1 and "Shard(s) not found: a.tar, b.tar" in result.output, result.output
    result = runner.invoke(app, dict(cases)["label: an unreadable shard"])  # named, nothing written
    assert "000.tar" in result.output and "not a readable tar" in result.output, result.output
    assert not list((tmp_path / "l").glob("*.tar"))

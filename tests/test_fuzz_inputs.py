"""Fuzz: 50+ corrupt or hostile shards through read_samples, fourm tokenize and fourm label.

The rule for each case: the good samples come out exactly (lossless variants decode to the
same ids), every bad one is a counted skip or the run ends in one line naming the file, no
case hangs (a time bound per case), and a planted pickle never runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fourm_cli.app import build_app
from fourm_modalities.labelers.tiny import save_tiny
from fourm_registry import FourmError, ReadStats, read_samples

from ._fuzz_cases import CLEAN, IDS_EXPECTED, MARKER, Case, Planted, cases, only_bad_ids, token_shard
from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

CASES = cases()
BOUND_S = 20.0  # per case, generous for 2 loaded cores; a hang trips pytest-timeout first


def test_there_are_at_least_forty_distinct_corruptions() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 50


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    for case in CASES:
        (root / case.name).mkdir()
        case.write(root / case.name / "000.tar")
    return root


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # a planted pickle would write MARKER here
    yield tmp_path
    assert not (tmp_path / MARKER).exists(), "a planted pickle ran"


def one_line_error(output: str) -> bool:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    return len(errors) == 1 and "Traceback" not in output


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_read_samples(case: Case, shards: Path, registry) -> None:
    stats = ReadStats()
    start = time.perf_counter()
    out = list(read_samples(str(shards / case.name / "000.tar"), registry, stats=stats, limits=case.limits or None))
    assert time.perf_counter() - start < BOUND_S
    assert {s["__key__"] for s in out} == case.good
    assert stats.samples == len(out)
    if case.shard_error:
        assert stats.bad_shards == 1 and stats.reasons == {"unreadable shard": 1}
    elif case.name not in CLEAN:
        assert stats.skipped + sum(stats.reasons.values()) >= 1, "a corruption passed without a count"
    if case.name in IDS_EXPECTED:  # lossless variants: exactly the ids that were written
        bad = next(s for s in out if s["__key__"] == "bad")
        rng = np.random.default_rng(5)
        assert np.array_equal(bad["semseg"], rng.integers(0, 5, (32, 32), dtype=np.uint8))
    strict = read_samples(str(shards / case.name / "000.tar"), registry, on_error="raise",
                          limits=case.limits or None)
    if stats.skipped or stats.bad_shards:  # on_error="raise": the first problem is one line
        with pytest.raises(FourmError) as err:
            list(strict)
        assert "\n" not in str(err.value) and case.name in str(err.value)
    else:
        assert [s["__key__"] for s in strict] == [s["__key__"] for s in out]


@pytest.fixture(scope="module")
def text_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fourm_registry import Registry

    root = tmp_path_factory.mktemp("toks")
    (root / "corpus.txt").write_text("a photo of sample g0\na cat on a mat\n" * 20)
    from typer.testing import CliRunner

    r = CliRunner().invoke(build_app(Registry.build(allow=[])), [
        "tokenizer", "train", "text", "--corpus", str(root / "corpus.txt"), "--vocab-size", "30000",
        "--out", str(root / "toks" / "text")])
    assert r.exit_code == 0, r.output
    return root / "toks"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fourm_tokenize(shards: Path, text_tokenizer: Path, registry, runner, tmp_path: Path) -> None:
    app = build_app(registry)
    failures = []
    for case in CASES:
        if case.limits:
            continue  # tokenize reads with the default limits
        out = tmp_path / case.name
        start = time.perf_counter()
        r = runner.invoke(app, ["tokenize", "--data", str(shards / case.name), "--tokenizers", str(text_tokenizer),
                                "--out", str(out)])
        took = time.perf_counter() - start
        leftovers = [p.name for p in out.glob(".*")] if out.exists() else []
        if took > BOUND_S or leftovers:
            failures.append(f"{case.name}: {took:.1f}s, leftovers {leftovers}")
        elif case.shard_error:
            if r.exit_code != 1 or not one_line_error(r.output) or "000.tar" not in r.output \
                    or (out / "000.tar").exists():
                failures.append(f"{case.name}: exit {r.exit_code}: {r.output[-300:]}")
        elif r.exit_code != 0:
            failures.append(f"{case.name}: exit {r.exit_code}: {r.output[-300:]}")
        else:
            keys = {s["__key__"] for s in read_samples(str(out / "000.tar"), registry)}
            if keys != case.good:
                failures.append(f"{case.name}: wrote {sorted(keys)}, expected {sorted(case.good)}")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def tiny_depth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny("depth", tmp_path_factory.mktemp("tiny") / "depth")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fourm_label(shards: Path, tiny_depth: Path, registry, runner, tmp_path: Path) -> None:
    app = build_app(registry)
    failures = []
    for case in CASES:
        if case.limits:
            continue
        out = tmp_path / case.name
        start = time.perf_counter()
        r = runner.invoke(app, ["label", str(shards / case.name / "000.tar"), "--out", str(out), "-m", "depth",
                                "--model", f"depth={tiny_depth}", "--device", "cpu", "--quiet", "--json"])
        took = time.perf_counter() - start
        leftovers = [p.name for p in out.glob(".*")] if out.exists() else []
        if took > BOUND_S or leftovers:
            failures.append(f"{case.name}: {took:.1f}s, leftovers {leftovers}")
        elif case.shard_error:
            if r.exit_code != 1 or not one_line_error(r.output) or (out / "000.tar").exists():
                failures.append(f"{case.name}: exit {r.exit_code}: {r.output[-300:]}")
        elif r.exit_code != 0:
            failures.append(f"{case.name}: exit {r.exit_code}: {r.output[-300:]}")
        else:
            report = json.loads(r.stdout)
            keys = {s["__key__"] for s in read_samples(str(out / "000.tar"), registry)}
            if keys != case.label_good or report["images"] != len(keys):
                failures.append(f"{case.name}: wrote {sorted(keys)}, expected {sorted(case.label_good)}")
    assert not failures, "\n".join(failures)


# -- fourm train: a few steps on corrupt token shards ------------------------------------------
HERE = Path(__file__).resolve().parent
TINY = HERE.parent / "configs" / "train_tiny.yaml"
RANK_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def fourm_train(out: Path, shards: str, val: str, *extra: str, timeout: float = 240) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARS}
    sets = [f"data.shards={shards}", f"data.val_shards={val}", f"out_dir={out}", "train.max_steps=3",
            "checkpoint.every=3", "eval.every=100", "eval.num_batches=1", "logging.progress=false",
            "train.device=cpu", *extra]
    args = [sys.executable, "-m", "fourm_cli.app", "train", str(TINY)] + [a for s in sets for a in ("--set", s)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=out.parent)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def token_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tokens")
    token_shard(root / "val.tar", good=16, bad=False)
    token_shard(root / "mixed.tar", good=6, bad=True)
    only_bad_ids(root / "bad_ids.tar")
    (root / "empty.tar").write_bytes(b"\0" * 1024)
    (root / "garbage.tar").write_bytes(bytes(range(256)) * 8)
    return root


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("shards", ["bad_ids.tar", "{empty,garbage}.tar"])
def test_fourm_train_with_nothing_usable_stops_with_one_line(shards: str, token_data: Path, tmp_path: Path) -> None:
    """Out-of-vocabulary ids only; an empty tar plus an unreadable one: an error, not a hang."""
    start = time.perf_counter()
    rc, out = fourm_train(tmp_path / "run", str(token_data / shards), str(token_data / "val.tar"))
    assert time.perf_counter() - start < 200
    assert rc == 1 and one_line_error(out), out[-2000:]
    error = next(line for line in out.splitlines() if line.startswith("Error:"))
    assert "No usable training sample" in error, error
    assert all(name in error for name in ("bad_ids.tar",) if name in shards), error
    assert ("bad ids tok_rgb" in error) == (shards == "bad_ids.tar"), error


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fourm_train_skips_bad_tokens_then_refuses_a_planted_checkpoint(token_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    rc, out = fourm_train(run, str(token_data / "mixed.tar"), str(token_data / "val.tar"))
    assert rc == 0, out[-2000:]
    for reason in ("bad ids tok_rgb", "bad ids tok_depth", "token ids must be integers", "bad shape tok_caption",
                   "bad shape tok_rgb", "missing tok_depth", "undecodable member"):
        assert reason in out, reason  # each corruption is named in the skip log
    states = run / "checkpoints" / "step_00000003" / "mp_rank_00_model_states.pt"
    import torch

    saved = torch.load(states, weights_only=True)
    torch.save({**saved, "planted": Planted()}, states)  # a pickle that writes MARKER when loaded
    rc, out = fourm_train(run, str(token_data / "mixed.tar"), str(token_data / "val.tar"), "train.max_steps=5")
    assert rc == 1 and one_line_error(out), out[-2000:]
    assert "refused to load" in out and "mp_rank_00_model_states.pt" in out
    assert not (tmp_path / MARKER).exists() and not (run / MARKER).exists()
    states.write_bytes(b"")  # an empty model-states file: one line, not "Aborted."
    rc, out = fourm_train(run, str(token_data / "mixed.tar"), str(token_data / "val.tar"), "train.max_steps=5")
    assert rc == 1 and one_line_error(out) and "empty file" in out, out[-2000:]
    (states.parent / "meta.json").write_text("{not json")
    rc, out = fourm_train(run, str(token_data / "mixed.tar"), str(token_data / "val.tar"), "train.max_steps=5")
    assert rc == 1 and one_line_error(out) and "meta.json" in out, out[-2000:]


# -- checkpoint files (fast: no training) -------------------------------------------------------
def test_deepspeed_loader_is_swapped_for_a_safe_one(tmp_path: Path) -> None:
    """DeepSpeed's own TorchCheckpointEngine, called as engine.load_checkpoint calls it."""
    import torch
    from deepspeed.runtime.checkpoint_engine.torch_checkpoint_engine import TorchCheckpointEngine

    from fourm_registry.training.safe_load import UnsafeCheckpointError, safe_deepspeed_loads

    class Engine:
        checkpoint_engine = TorchCheckpointEngine()

        def load_checkpoint(self, path: str) -> object:
            return self.checkpoint_engine.load(path, map_location="cpu")

    planted, plain = tmp_path / "planted.pt", tmp_path / "plain.pt"
    torch.save({"module": {"w": torch.ones(2)}, "evil": Planted()}, planted)
    torch.save({"module": {"w": torch.ones(2)}, "global_steps": 3}, plain)
    engine = Engine()
    with safe_deepspeed_loads(engine):
        assert engine.load_checkpoint(str(plain))["global_steps"] == 3
        with pytest.raises(UnsafeCheckpointError, match="refused to load"):
            engine.load_checkpoint(str(planted))
    assert not (tmp_path / MARKER).exists() and not Path(MARKER).exists()
    assert engine.checkpoint_engine.load.__func__ is TorchCheckpointEngine.load  # put back afterwards


def test_prune_removes_orphans_and_a_broken_meta_is_one_line(tmp_path: Path) -> None:
    from fourm_registry.training.checkpoint import CheckpointError, CheckpointManager

    root = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        (root / f"step_0000000{step}").mkdir(parents=True)
        (root / f"step_0000000{step}" / "meta.json").write_text(json.dumps({"step": step, "world_size": 1}))
    (root / "step_00000009").mkdir()  # a kill inside an earlier prune: no meta.json
    (root / "step_00000009" / "mp_rank_00_model_states.pt").write_bytes(b"x" * 100)
    (root / ".tmp-step_00000004").mkdir()
    manager = CheckpointManager(root, keep_last=2, rank=0, world_size=1)
    manager.prune()
    assert sorted(p.name for p in root.iterdir()) == ["step_00000002", "step_00000003"]
    (root / "step_00000003" / "meta.json").write_text('{"step": 3}')
    with pytest.raises(CheckpointError, match="world_size missing"):
        manager.load(engine=None, tag="step_00000003")
    (root / "step_00000003" / "meta.json").write_text('{"step": 3, "world_size": 1}')
    (root / "step_00000003" / "mp_rank_00_model_states.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        manager.load(engine=None, tag="step_00000003")
    (root / "step_00000003" / "mp_rank_00_model_states.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError, match="not a torch zip archive"):
        manager.load(engine=None, tag="step_00000003")

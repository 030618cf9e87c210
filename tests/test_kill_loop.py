"""Kill -9 in a loop: train, tokenize and label are SIGKILLed at random points (seeded), rerun
until they finish, and must end bit-identical to an uninterrupted run with no orphan files
(``.tmp-*`` temporaries, ``step_*`` without ``meta.json``, ``.partial`` markers).

Train kills are aimed at checkpoint writes and pruning (right after a ``checkpoint`` line);
tokenize and label kills while a random output shard is being written (its ``.tmp-`` exists).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from fourm_registry import Registry
from fourm_registry.shards import AtomicShardWriter, iter_raw

from ._label_helpers import write_img2dataset_shard
from ._train_shards import SMALL, write_shards

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
HERE = Path(__file__).resolve().parent
TINY = HERE.parent / "configs" / "train_tiny.yaml"
RANK_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
KILLS = 2  # per job: enough to hit writes, few enough for 2 loaded cores


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in RANK_VARS}
    e["PYTHONUNBUFFERED"] = "1"
    return e


def fourm(*args: str) -> list[str]:
    return [sys.executable, "-m", "fourm_cli.app", *args]


def orphans(root: Path) -> list[str]:
    bad = [str(p) for p in root.rglob("*") if p.name.startswith(".tmp-") or ".tmp-" in p.name
           or p.name.endswith(".partial")]
    bad += [str(p) for p in root.rglob("step_*") if p.is_dir() and not (p / "meta.json").is_file()]
    return bad


def shard_contents(folder: Path) -> dict[str, dict[str, dict[str, bytes]]]:
    """Every output shard's samples as raw member bytes (tar headers, e.g. mtimes, aside; the
    provenance record names the run — its time and folder — so it is not data)."""
    return {p.name: {s["__key__"]: {k: v for k, v in s.items() if not k.startswith("__") and "provenance" not in k}
                     for s in iter_raw([str(p)])} for p in sorted(folder.glob("*.tar"))}


def kill_loop(cmd: list[str], out: Path, rng: np.random.Generator, shards: int) -> int:
    """Run ``cmd`` KILLS times, each SIGKILLed while it writes a random shard (its ``.tmp-``
    file exists and k shards are done), then once more to the end; returns the kills made."""
    kills = 0
    for _ in range(KILLS):
        target = int(rng.integers(0, shards))
        proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            done = len(list(out.glob("*.tar"))) if out.exists() else 0
            if done >= target and out.exists() and any(out.glob(".*.tmp-*")):
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait()
    final = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout[-2000:] + final.stderr[-2000:]
    return kills


def in_process(args: list[str], registry) -> None:
    from typer.testing import CliRunner

    from fourm_cli.app import build_app

    result = CliRunner().invoke(build_app(registry), args)
    assert result.exit_code == 0, result.output


def test_train_killed_during_checkpoints_resumes_bit_identical(tmp_path: Path) -> None:
    shards = write_shards(tmp_path / "shards", Registry.build(allow=[]).with_overrides(SMALL))
    sets = [f"data.shards={shards['train']}", f"data.val_shards={shards['val']}", "train.max_steps=8",
            "checkpoint.every=1", "checkpoint.keep_last=2", "eval.every=100", "eval.num_batches=1",
            "logging.every=1", "logging.progress=false", "train.deterministic=true", "train.device=cpu"]

    def cmd(out: Path) -> list[str]:
        return fourm("train", str(TINY), *[a for s in [*sets, f"out_dir={out}"] for a in ("--set", s)])

    straight = subprocess.Popen(cmd(tmp_path / "straight"), env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    rng, crashed, kills = np.random.default_rng(17), tmp_path / "crashed", 0
    for _ in range(KILLS):
        proc = subprocess.Popen(cmd(crashed), env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:  # aim at a checkpoint write / prune: just after one finished
            if line.startswith("checkpoint "):
                time.sleep(float(rng.uniform(0.0, 0.8)))
                break
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        proc.stdout.close()
    final = subprocess.run(cmd(crashed), env=env(), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout[-2000:] + final.stderr[-2000:]
    assert straight.wait(timeout=300) == 0
    assert kills >= 1
    a = load_file(str(tmp_path / "straight" / "export" / "model.safetensors"))
    b = load_file(str(crashed / "export" / "model.safetensors"))
    assert a.keys() == b.keys() and len(a) > 20
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not orphans(crashed), orphans(crashed)
    steps = sorted(p.name for p in (crashed / "checkpoints").glob("step_*"))
    assert len(steps) <= 2 and steps[-1] == "step_00000008", steps


def caption_shards(root: Path, registry, shards: int = 6, per_shard: int = 12) -> None:
    for s in range(shards):
        with AtomicShardWriter(root / f"{s:03d}.tar", registry) as w:
            for i in range(per_shard):
                w.write({"__key__": f"s{s}_{i:03d}", "caption": f"a photo of {i} cats on mat {s}"})


def test_tokenize_killed_in_a_loop_loses_and_duplicates_nothing(tmp_path: Path, registry) -> None:
    data = tmp_path / "data"
    caption_shards(data, registry)
    (tmp_path / "corpus.txt").write_text("a photo of cats on a mat\n" * 50)
    toks = tmp_path / "toks"
    in_process(["tokenizer", "train", "text", "--corpus", str(tmp_path / "corpus.txt"), "--vocab-size", "30000",
                "--out", str(toks / "text")], registry)

    def args(out: Path) -> list[str]:
        return ["tokenize", "--data", str(data), "--tokenizers", str(toks), "--out", str(out), "--batch-size", "2"]

    in_process(args(tmp_path / "straight"), registry)  # the same code path, without a process start
    kills = kill_loop(fourm(*args(tmp_path / "crashed")), tmp_path / "crashed", np.random.default_rng(3), 6)
    assert kills >= 1
    assert shard_contents(tmp_path / "crashed") == shard_contents(tmp_path / "straight")
    assert len(shard_contents(tmp_path / "straight")) == 6
    assert not orphans(tmp_path / "crashed"), orphans(tmp_path / "crashed")


def test_label_killed_in_a_loop_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    from fourm_modalities.labelers.tiny import save_tiny

    inputs = tmp_path / "in"
    inputs.mkdir()
    for s in range(4):
        write_img2dataset_shard(inputs / f"{s:05d}.tar", [f"{s}{i:04d}" for i in range(8)], seed=s)
    tiny = save_tiny("depth", tmp_path / "tiny")

    def args(out: Path) -> list[str]:
        return ["label", str(inputs / "{00000..00003}.tar"), "--out", str(out), "-m", "depth",
                "--model", f"depth={tiny}", "--batch-size", "2", "--device", "cpu", "--quiet"]

    # the straight run in a process of its own too: the labeler's floats depend on torch's
    # thread count, which an earlier test may have changed in this process
    subprocess.run(fourm(*args(tmp_path / "straight")), env=env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kills = kill_loop(fourm(*args(tmp_path / "crashed")), tmp_path / "crashed", np.random.default_rng(5), 4)
    assert kills >= 1
    crashed, straight = shard_contents(tmp_path / "crashed"), shard_contents(tmp_path / "straight")
    differ = [(shard, key, m) for shard in straight for key in straight[shard] for m in straight[shard][key]
              if crashed.get(shard, {}).get(key, {}).get(m) != straight[shard][key][m]]
    assert crashed.keys() == straight.keys() and len(straight) == 4 and not differ, differ[:5]
    assert all(crashed[s].keys() == straight[s].keys() for s in straight)
    assert not orphans(tmp_path / "crashed"), orphans(tmp_path / "crashed")

"""Exact resume: a run killed with SIGKILL after step k and resumed ends, at step n, with the same
weights as an uninterrupted run to n — bit for bit (CPU, deterministic algorithms)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fourm_registry import Registry

from ._train_shards import SMALL, write_shards

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "configs" / "train_tiny.yaml"
RANK_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def start(out: Path, shards: dict, kill_at: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARS}  # a fresh single-process run
    sets = [f"data.shards={shards['train']}", f"data.val_shards={shards['val']}", f"out_dir={out}",
            "train.max_steps=7", "checkpoint.every=3", "eval.every=4", "eval.num_batches=1",
            "logging.every=2", "logging.progress=false", "train.deterministic=true", "train.device=cpu"]
    return subprocess.Popen([sys.executable, str(HERE / "_train_run.py"), str(EXAMPLE), str(kill_at), *sets],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    shards = write_shards(tmp_path / "shards", Registry.build(allow=[]).with_overrides(SMALL))
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    procs = [start(straight, shards, kill_at=-1), start(crashed, shards, kill_at=5)]
    (rc_a, log_a), (rc_b, log_b) = finish(procs[0]), finish(procs[1])
    assert rc_a == 0, log_a
    assert rc_b == -signal.SIGKILL, log_b
    assert (crashed / "checkpoints" / "latest").read_text() == "step_00000003"
    assert not (crashed / "export").exists()

    rc_c, log_c = finish(start(crashed, shards, kill_at=-1))
    assert rc_c == 0, log_c
    assert "RESUMED_FROM=step_00000003 STEP=7" in log_c
    a = load_file(str(straight / "export" / "model.safetensors"))
    b = load_file(str(crashed / "export" / "model.safetensors"))
    assert a.keys() == b.keys() and len(a) > 20
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]

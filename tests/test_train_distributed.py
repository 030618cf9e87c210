"""Two CPU processes (torchrun, gloo) run ``fourm train`` as one data-parallel job with ZeRO-2,
write one checkpoint with both ranks' state, and resume it."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fourm_registry import Registry

from ._train_shards import SMALL, write_shards

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "train_tiny.yaml"
RANK_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def torchrun(out: Path, shards: dict, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARS}
    env["FOURM_LOAD_PLUGINS"] = ""  # built-in modalities only
    torchrun_bin = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    cmd = [torchrun_bin, "--standalone", "--nproc_per_node=2", "-m", "fourm_cli.app", "train", str(EXAMPLE),
           "--out", str(out), "--set", f"data.shards={shards['train']}", "--set", f"data.val_shards={shards['val']}",
           "--set", f"train.max_steps={steps}", "--set", "checkpoint.every=null", "--set", "eval.num_batches=1",
           "--set", "eval.at_start=false", "--set", "logging.progress=false", "--set", "train.device=cpu"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    match = re.search(r"^\{$.*?^\}$", proc.stdout, re.M | re.S)  # the summary rank 0 prints
    assert match, proc.stdout[-3000:]
    return json.loads(match.group(0))


def test_two_cpu_processes_train_checkpoint_and_resume(tmp_path):
    shards = write_shards(tmp_path / "shards", Registry.build(allow=[]).with_overrides(SMALL))
    out = tmp_path / "run"
    first = torchrun(out, shards, steps=3)
    assert first["step"] == 3 and first["nonfinite_steps"] == 0 and first["resumed_from"] is None
    assert first["tokens_seen"] > 3 * 2 * 8 * 12  # two ranks' batches per step
    files = {p.name for p in (out / "checkpoints" / "step_00000003").iterdir()}
    assert {"rank_00000.pt", "rank_00001.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt",
            "zero_pp_rank_1_mp_rank_00_optim_states.pt"} <= files  # ZeRO-2: optimizer state sharded
    assert json.loads((out / "checkpoints" / "step_00000003" / "meta.json").read_text())["world_size"] == 2

    second = torchrun(out, shards, steps=5)
    assert second["resumed_from"] == "step_00000003" and second["step"] == 5
    assert second["tokens_seen"] > first["tokens_seen"]
    assert set(second["eval"]) == {"loss", "loss/rgb", "loss/depth", "loss/caption"}
    assert json.loads((out / "export" / "trainer_state.json").read_text())["step"] == 5

"""benchmarks/gpu_train.py's CPU path: the ZeRO-2 + activation-checkpointing engine, batch search, figures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_script_cpu_path_reports_every_figure():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_train.py"), "--device", "cpu", "--presets", "dev",
           "--batch", "1", "--max-batch", "2", "--steps", "1", "--input-tokens", "16", "--target-tokens", "16",
           "--threads", "1"]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    dev = out["dev"]
    assert out["device"] == "cpu" and out["peak_tflops"] > 0 and out["tokens_per_sample"] == 32
    assert dev["zero_stage"] == 2 and dev["activation_checkpointing"] and not dev["bf16"]
    assert [r["batch"] for r in dev["runs"]] == [1, 2] and dev["largest_batch"] == 2
    for run in dev["runs"]:
        assert run["step_s"] > 0 and run["tokens_per_s"] > 0 and 0 < run["mfu"] < 1 and run["peak_memory_gib"] > 0
    assert out["targets"]["base_mfu"]["met"] is False  # no base preset, no GPU: never claimed

"""AIMv2 through ``fourm train``'s trainer (DeepSpeed engine): the loss falls, the export loads, and a
run killed with SIGKILL resumes bit-identically (CPU, deterministic), as 4M runs do."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from _aimv2_shards import SETTINGS, write_config, write_shards
from fourm_aimv2 import AIMv2
from fourm_registry import Registry
from fourm_registry.config import load_config
from fourm_registry.training import TrainConfig, Trainer

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
RANK_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=["aimv2"])


@pytest.fixture(scope="module")
def shards(tmp_path_factory, registry):
    return write_shards(tmp_path_factory.mktemp("aimv2_shards"), registry.with_overrides(SETTINGS))


def overrides(shards: dict, out: Path, steps: int) -> list[str]:
    return [f"data.shards={shards['train']}", f"data.val_shards={shards['val']}", f"out_dir={out}",
            f"train.max_steps={steps}", "logging.progress=false", "train.device=cpu", "train.deterministic=true",
            "eval.num_batches=2", "optim.lr=3e-3"]


def test_loss_falls_and_the_export_loads(tmp_path, shards, registry):
    cfg = load_config(TrainConfig, write_config(tmp_path / "aimv2.yaml"),
                      [*overrides(shards, tmp_path / "run", 30), "eval.every=30", "checkpoint.every=30"])
    trainer = Trainer(cfg, registry)
    result = trainer.fit()
    assert trainer.family.name == "aimv2" and isinstance(trainer.engine.module, AIMv2)
    first, last = result.evals[0], result.evals[-1]
    print(f"AIMV2_TINY first={first} last={last}")  # the README's figure (pytest -s)
    assert last["step"] == 30 and result.state.nonfinite_total == 0
    for name in ("rgb", "caption"):
        assert last[f"loss/{name}"] < first[f"loss/{name}"] * 0.8, (name, first, last)
    model = AIMv2.from_pretrained(result.export_dir)
    feats = model.encode_features(torch.zeros(2, 16, 16, 3, dtype=torch.uint8))
    assert feats.shape == (2, 16, 32)
    # tokens: 16 patches + non-prefix targets + caption tokens per sample
    assert result.state.tokens_seen > 30 * 8 * (16 + 1 + 4)
    # the run's export converts with ``fourm convert --to transformers`` (equal features)
    from transformers import Aimv2VisionModel
    from typer.testing import CliRunner

    from fourm_cli.app import build_app

    res = CliRunner().invoke(build_app(registry), ["convert", "--to", "transformers", str(result.export_dir),
                                                   str(tmp_path / "hf")])
    assert res.exit_code == 0, res.output
    hf = Aimv2VisionModel.from_pretrained(tmp_path / "hf").eval()
    images = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    with torch.no_grad():
        theirs = hf(pixel_values=model.pixel_values(images)).last_hidden_state
        assert (model.eval().encode_features(images) - theirs).abs().max() < 1e-5


def start(cfg: Path, out: Path, shards: dict, kill_at: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARS}
    sets = [*overrides(shards, out, 7), "checkpoint.every=3", "eval.every=4", "eval.num_batches=1", "logging.every=2"]
    return subprocess.Popen([sys.executable, str(HERE / "_aimv2_run.py"), str(cfg), str(kill_at), *sets],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=400)
    return proc.returncode, out


def test_sigkill_then_resume_is_bit_identical(tmp_path, shards):
    cfg = write_config(tmp_path / "aimv2.yaml")
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    procs = [start(cfg, straight, shards, -1), start(cfg, crashed, shards, 5)]
    (rc_a, log_a), (rc_b, log_b) = finish(procs[0]), finish(procs[1])
    assert rc_a == 0, log_a
    assert rc_b == -signal.SIGKILL, log_b
    assert (crashed / "checkpoints" / "latest").read_text() == "step_00000003"
    rc_c, log_c = finish(start(cfg, crashed, shards, -1))
    assert rc_c == 0, log_c
    assert "RESUMED_FROM=step_00000003 STEP=7" in log_c
    a = load_file(str(straight / "export" / "model.safetensors"))
    b = load_file(str(crashed / "export" / "model.safetensors"))
    assert a.keys() == b.keys() and len(a) > 20
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]

"""The trainer end to end in this process: the real FourM on real token shards, one DeepSpeed engine
per run (CPU accelerator, gloo, world size 1).

One 30-step run (the example config) is shared by several tests; the others are short runs.
"""
from __future__ import annotations

import errno
import functools
import json
import math
import os
from pathlib import Path

import pytest
import torch

from ._train_shards import SMALL, write_shards
from fourm_registry import FourmError, Registry
from fourm_registry.config import load_config
from fourm_registry.training import TrainConfig, Trainer, TrainingDiverged
from fourm_registry.training.checkpoint import CheckpointError

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "train_tiny.yaml"
TARGETS = ["rgb", "depth", "caption"]


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=[])


@pytest.fixture(scope="module")
def shards(tmp_path_factory, registry):
    return write_shards(tmp_path_factory.mktemp("shards"), registry.with_overrides(SMALL))


def config(shards: dict, out: Path, *overrides: str, path: Path = EXAMPLE) -> TrainConfig:
    base = [f"data.shards={shards['train']}", f"data.val_shards={shards['val']}", f"out_dir={out}",
            "logging.progress=false", "train.device=cpu"]
    return load_config(TrainConfig, path, [*base, *overrides])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shards, registry):
    """The example config as written: 30 steps, eval every 10, checkpoints every 10, keep 2."""
    out = tmp_path_factory.mktemp("run")
    trainer = Trainer(config(shards, out), registry)
    return trainer, trainer.fit(), out


def test_held_out_loss_falls_for_every_modality(trained):
    _, result, _ = trained
    first, last = result.evals[0], result.evals[-1]
    assert first["step"] == 0 and last["step"] == 30 and result.state.step == 30
    for name in TARGETS:
        assert last[f"loss/{name}"] < first[f"loss/{name}"] - 0.3, (name, first, last)
    assert last["loss"] < first["loss"] - 0.5
    assert result.state.nonfinite_total == 0
    assert result.state.tokens_seen > 30 * 8 * 12  # inputs + targets of 8 samples per step


def test_logs_checkpoints_and_export(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer, result, out = trained
    events = EventAccumulator(str(out / "logs")).Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "eval/loss",
                *(f"train/loss/{n}" for n in TARGETS), *(f"eval/loss/{n}" for n in TARGETS)):
        assert tag in tags, tag
    assert [e.step for e in events.Scalars("eval/loss")] == [0, 10, 20, 30]
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir() if p.is_dir())
    assert ckpts == ["step_00000020", "step_00000030"]  # keep_last: 2, nothing temporary left
    assert (out / "checkpoints" / "latest").read_text() == "step_00000030"
    assert {"rank_00000.pt", "meta.json"} <= {p.name for p in (out / "checkpoints/step_00000030").iterdir()}
    exported = json.loads((out / "export" / "config.json").read_text())
    assert list(exported["modalities"]) == TARGETS and exported["modalities"]["rgb"]["num_tokens"] == 16
    assert json.loads((out / "export" / "trainer_state.json").read_text())["step"] == 30
    assert result.export_dir == out / "export" and (out / "export" / "model.safetensors").is_file()


def test_export_loads_with_from_pretrained_and_gives_the_same_logits(trained, registry):
    from fourm_registry.model import FourM

    trainer, result, _ = trained
    loaded = FourM.from_pretrained(result.export_dir, registry).eval()
    trained_model = trainer.engine.module.eval()
    batch = next(iter(trainer.data.held_out(rank=0, world_size=1, seed=5)))
    with torch.no_grad():
        a = trained_model(batch, return_logits=True)
        b = loaded(batch, return_logits=True)
    assert set(a.logits) == set(TARGETS)
    for name in a.logits:
        assert torch.equal(a.logits[name], b.logits[name]), name
    assert torch.equal(a.loss, b.loss)


def test_missing_shards_fail_before_the_engine(tmp_path, shards, registry):
    bad = {**shards, "train": str(tmp_path / "nope-{0..3}.tar")}
    trainer = Trainer(config(bad, tmp_path / "out"), registry)
    with pytest.raises(FourmError, match=r"data.shards: .*not found.*nope-0.tar"):
        trainer.fit()
    assert not hasattr(trainer, "engine")


@pytest.mark.parametrize("stage", [0, 2])
def test_nonfinite_losses_are_skipped_counted_and_stop_the_run(tmp_path, shards, registry, stage):
    calls = {"n": 0}

    def poison(model):
        def hook(module, args, output):
            if torch.is_grad_enabled():
                calls["n"] += 1
                if calls["n"] in (2, 4, 5, 6):  # steps 2 and 4-6 (1-based) get a NaN loss
                    output.loss = output.loss * float("nan")
            return output
        model.register_forward_hook(hook)
        return model

    cfg = config(shards, tmp_path, f"deepspeed.zero_stage={stage}", "train.max_nonfinite_in_a_row=3",
                 "eval.at_start=false", "checkpoint.every=null")
    trainer = Trainer(cfg, registry, model_wrapper=poison)
    with pytest.raises(TrainingDiverged, match=r"3 steps in a row .*max_nonfinite_in_a_row=3.*step 6"):
        trainer.fit()
    assert trainer.state.step == 6 and trainer.state.nonfinite_total == 4
    assert trainer.engine.skipped_steps == 4
    assert all(torch.isfinite(p).all() for p in trainer.engine.module.parameters())


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, shards, registry, monkeypatch):
    real_save = torch.save
    disk = {"full": False}

    def save(obj, f, *args, **kwargs):
        if disk["full"]:
            Path(f).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    fill_disk = lambda trainer, state: disk.update(full=state.step >= 2)  # noqa: E731
    cfg = config(shards, tmp_path, "checkpoint.every=2", "eval.at_start=false", "eval.every=null")
    with pytest.raises(CheckpointError, match=r"step_00000004.*No space left.*step_00000002 is intact"):
        Trainer(cfg, registry, callbacks=[fill_disk]).fit()
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["step_00000002"]
    assert (root / "latest").read_text() == "step_00000002"
    disk["full"] = False
    resumed = Trainer(config(shards, tmp_path, "train.max_steps=3", "eval.every=null"), registry)
    result = resumed.fit()
    assert result.resumed_from == "step_00000002" and result.state.step == 3


def test_finetune_from_export_with_a_new_modality(trained, tmp_path, shards, registry):
    from safetensors.torch import load_file

    from fourm_registry.model import build_model
    from fourm_registry.training.build import load_initial_weights

    _, result, _ = trained
    export = result.export_dir
    names = [*TARGETS, "normal"]
    model = build_model(json.loads((export / "config.json").read_text())["model"],
                        registry.with_overrides(SMALL), names)
    fresh = load_initial_weights(model, export, {"normal"})
    assert fresh and all(".normal." in n for n in fresh)
    saved, own = load_file(str(export / "model.safetensors")), model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in saved.items())

    cfg = config(shards, tmp_path, f"init={export}", "train.max_steps=2", "eval.every=null",
                 "eval.at_start=false", "deepspeed.activation_checkpointing=true",
                 path=EXAMPLE.with_name("finetune_tiny.yaml"))
    assert cfg.model is None and cfg.modalities.all == names
    tuned = Trainer(cfg, registry)
    out = tuned.fit()
    assert out.state.step == 2 and tuned.fresh_params == fresh
    blocks = [*tuned.engine.module.encoder, *tuned.engine.module.decoder]
    assert all(isinstance(b.forward, functools.partial) for b in blocks)  # recomputed in backward
    assert "normal" in json.loads((out.export_dir / "config.json").read_text())["modalities"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_short_run_on_one_gpu(tmp_path, shards):
    """In a fresh process: this one's DeepSpeed accelerator is the CPU."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["FOURM_LOAD_PLUGINS"] = ""
    sets = [f"data.shards={shards['train']}", f"data.val_shards={shards['val']}", "train.device=cuda",
            "train.deterministic=false", "train.max_steps=3", "eval.at_start=false", "logging.progress=false"]
    cmd = [sys.executable, "-m", "fourm_cli.app", "train", str(EXAMPLE), "--out", str(tmp_path)]
    proc = subprocess.run([*cmd, *(a for s in sets for a in ("--set", s))], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((tmp_path / "export" / "trainer_state.json").read_text())
    assert state["step"] == 3 and state["nonfinite_total"] == 0


def test_activation_checkpointing_recomputes_blocks_exactly(trained, registry):
    from fourm_registry.model import build_model
    from fourm_registry.training.build import enable_activation_checkpointing

    trainer, _, _ = trained
    reg = registry.with_overrides(SMALL)
    batch = next(iter(trainer.data.held_out(rank=0, world_size=1, seed=3)))
    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(0)
        model = build_model({"dim": 32, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 2}, reg, TARGETS)
        if checkpointed:
            assert enable_activation_checkpointing(model, trainer.ds_config) == 4
        model(batch).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in grads[0])
    assert math.isfinite(sum(float(g.norm()) for g in grads[1].values()))
    assert os.environ["WORLD_SIZE"] == "1"


def test_autocast_bf16_runs_linears_in_bf16_and_keeps_fp32_weights(tmp_path, shards, registry, monkeypatch, capsys):
    """``deepspeed.autocast: bf16`` goes through DeepSpeed's own torch_autocast: the engine's
    forward runs linear layers in bf16, while parameters, AdamW and the export stay fp32. Asked
    for on a CPU that emulates bf16, the run says once that it will be slow."""
    import fourm_registry.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "native_cpu_bf16", lambda: False)
    seen: set[torch.dtype] = set()

    def spy(model):
        linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        linear.register_forward_hook(lambda m, i, o: seen.add(o.dtype))
        return model

    trainer = Trainer(config(shards, tmp_path, "deepspeed.autocast=bf16", "train.max_steps=6",
                             "eval.every=6", "checkpoint.every=6"), registry, model_wrapper=spy)
    result = trainer.fit()
    assert trainer.ds_config["torch_autocast"]["enabled"] and not trainer.ds_config["bf16"]["enabled"]
    assert seen == {torch.bfloat16}
    assert capsys.readouterr().err.count("autocast: bf16 on a CPU without AVX512-BF16 or AMX") == 1
    assert result.state.step == 6 and result.state.nonfinite_total == 0
    assert result.evals[-1]["loss"] < result.evals[0]["loss"]
    assert {p.dtype for p in trainer.engine.module.parameters()} == {torch.float32}
    from safetensors import safe_open

    with safe_open(str(tmp_path / "export" / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F32"}

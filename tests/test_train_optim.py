"""4M's optimisation recipe and the generated DeepSpeed config (no engine is built here)."""
from __future__ import annotations

import math

import pytest
import torch

from fourm_registry.model import build_model
from fourm_registry.training.config import DeepSpeedSection
from fourm_registry.training import deepspeed_config
from fourm_registry.training.deepspeed_config import build_ds_config, resolve_zero_stage
from fourm_registry.training.optim import GuardedAdamW, TokenSchedule, param_groups, scaled_lr

SMALL = {"rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "caption": {"max_length": 12, "vocab_size": 300}}


@pytest.fixture(scope="module")
def model(registry_small):
    torch.manual_seed(0)
    return build_model({"dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2,
                        "qkv_bias": True}, registry_small, ["rgb", "caption"])


@pytest.fixture(scope="module")
def registry_small():
    from fourm_registry import Registry

    return Registry.build(allow=[]).with_overrides(SMALL)


def test_weight_decay_spares_norms_biases_embeddings_and_tokens(model):
    groups = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)] for p in groups[0]["params"]}
    exempt = {names[id(p)] for p in groups[1]["params"]}
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
    assert decay and exempt and not decay & exempt
    assert len(decay) + len(exempt) == len(names)
    for name in exempt:
        assert (name.endswith("bias") or "norm" in name or "token_emb" in name or "mod_emb" in name
                or name == "mask_token" or model.get_parameter(name).ndim <= 1), name
    for name in decay:  # only weight matrices of linear layers
        assert name.endswith("weight") and model.get_parameter(name).ndim == 2 and "token_emb" not in name, name
    assert "mask_token" in exempt and any("qkv.bias" in n for n in exempt)
    assert any(n.endswith("token_emb.weight") for n in exempt)


def test_lr_scaling_and_token_schedule():
    assert scaled_lr(1e-4, 8192) == pytest.approx(3.2e-3)
    sched = TokenSchedule(peak=1.0, warmup_tokens=100, total_tokens=1100, floor=0.1)
    assert sched(0) == 0.0 and sched(50) == pytest.approx(0.5)
    assert sched(100) == pytest.approx(1.0)
    assert sched(600) == pytest.approx(0.55)  # half-way through the cosine
    assert sched(1100) == pytest.approx(0.1) and sched(5000) == pytest.approx(0.1)
    values = [sched(t) for t in range(100, 1100, 50)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=9.0)
    assert sched.apply(opt, 50) == pytest.approx(0.5) and opt.param_groups[0]["lr"] == pytest.approx(0.5)


def test_guarded_adamw_skips_nonfinite_gradients():
    p = torch.nn.Parameter(torch.ones(3))
    opt = GuardedAdamW([p], lr=0.1)
    opt.guard = True
    p.grad = torch.tensor([1.0, float("nan"), 0.0])
    assert math.isnan(opt.check_gradients()) and opt.overflow
    opt.step()
    assert torch.equal(p.detach(), torch.ones(3)) and p.grad is None
    p.grad = torch.tensor([3.0, 4.0, 0.0])
    assert opt.check_gradients() == pytest.approx(5.0) and not opt.overflow
    opt.step()
    assert not torch.equal(p.detach(), torch.ones(3))


def test_generated_deepspeed_config():
    cpu = torch.device("cpu")
    cfg = build_ds_config(DeepSpeedSection(), micro_batch=8, world_size=1, device=cpu)
    assert cfg["zero_optimization"]["stage"] == 0 and cfg["bf16"]["enabled"] is False
    assert cfg["gradient_clipping"] == 1.0 and cfg["train_batch_size"] == 8
    assert "activation_checkpointing" not in cfg
    section = DeepSpeedSection(gradient_accumulation=4, activation_checkpointing=True, bf16="on",
                               gradient_clipping=0.5, extra={"zero_optimization": {"round_robin_gradients": True}})
    cfg = build_ds_config(section, micro_batch=2, world_size=8, device=cpu)
    zero = cfg["zero_optimization"]
    assert zero["stage"] == 2 and zero["round_robin_gradients"] is True and zero["contiguous_gradients"]
    assert cfg["train_batch_size"] == 64 and cfg["gradient_accumulation_steps"] == 4
    assert cfg["bf16"]["enabled"] is True and cfg["gradient_clipping"] == 0.5
    assert cfg["activation_checkpointing"]["partition_activations"] is False
    assert resolve_zero_stage(3, 1) == 3 and resolve_zero_stage("auto", 2) == 2
    assert resolve_zero_stage("auto", 1) == 0 and resolve_zero_stage("auto", 1, bf16=True) == 2


def test_autocast_bf16_keeps_fp32_weights_and_needs_no_zero_stage():
    cpu = torch.device("cpu")
    cfg = build_ds_config(DeepSpeedSection(autocast="bf16"), micro_batch=8, world_size=1, device=cpu)
    assert cfg["torch_autocast"] == {"enabled": True, "dtype": "bfloat16"}
    assert cfg["bf16"]["enabled"] is False and cfg["zero_optimization"]["stage"] == 0
    assert "torch_autocast" not in build_ds_config(DeepSpeedSection(), micro_batch=8, world_size=1, device=cpu)
    with pytest.raises(ValueError, match="exclude each other"):
        DeepSpeedSection(autocast="bf16", bf16="on")


@pytest.mark.parametrize("native", [True, False])
def test_autocast_auto_is_bf16_only_where_the_cpu_multiplies_bf16_natively(monkeypatch, native):
    """Without AVX512-BF16 or AMX, bf16 matmuls are emulated (a demo step measured 16x slower
    than fp32 on an AVX2 EPYC), so ``auto`` keeps such a CPU in fp32."""
    monkeypatch.setattr(deepspeed_config, "native_cpu_bf16", lambda: native)
    cpu = torch.device("cpu")
    cfg = build_ds_config(DeepSpeedSection(autocast="auto"), micro_batch=8, world_size=1, device=cpu)
    assert ("torch_autocast" in cfg) is native and cfg["bf16"]["enabled"] is False
    assert cfg["zero_optimization"]["stage"] == 0
    forced = build_ds_config(DeepSpeedSection(autocast="auto", bf16="on"), micro_batch=8, world_size=1, device=cpu)
    assert "torch_autocast" not in forced and forced["bf16"]["enabled"] is True  # explicit bf16 weights win
    assert deepspeed_config.resolve_autocast("auto", torch.device("meta")) is False
    assert deepspeed_config.resolve_autocast("off", cpu) is False and deepspeed_config.resolve_autocast("bf16", cpu)


def test_native_cpu_bf16_reads_the_cpu_flags():
    expected = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert deepspeed_config.native_cpu_bf16() is bool(expected)

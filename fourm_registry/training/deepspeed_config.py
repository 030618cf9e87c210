"""The DeepSpeed config generated from the ``deepspeed`` section of a TrainConfig.

Choices that depend on the machine are resolved here, once:

- ``bf16: auto`` is on for CUDA devices that support bfloat16, off on CPU (bf16 weights
  go through ZeRO's bf16 optimizer, which a single CPU rank does not need; see ``autocast``).
- ``zero_stage: auto`` is ZeRO-2 — except for a single fp32 rank, where ZeRO has nothing
  to partition and only adds copies (its fp32 master partition and gradient buckets:
  ~1.4× a plain AdamW step on CPU, measured in ``benchmarks/bench_trainer.py``), so
  ``auto`` is stage 0 there (~1.0×). bf16 weights always go through ZeRO's bf16
  optimizer. Give a number to force a stage.
- ``autocast: bf16`` is the other mixed precision: weights, gradients and AdamW stay fp32 and
  only autocast-safe ops (linear layers) run in bf16, through DeepSpeed's ``torch_autocast``
  section. It needs no ZeRO stage, so it suits one CPU process: on a CPU with AVX512-BF16,
  matmuls run 2.2–3.3× faster in bf16 than in fp32 (measured from 2048×192·192×576 to
  2048³ on this project's 2-core machine; whole steps: ``benchmarks/bench_autocast.py``).
  Without it the same step is 16× *slower* (AVX2 AMD EPYC, which emulates bf16 matmuls):
  ``autocast: auto`` is bf16 only on a CPU with AVX512-BF16 or AMX, off elsewhere.
"""
from __future__ import annotations

from typing import Any

import torch

from ..config import deep_merge
from .config import DeepSpeedSection


def resolve_zero_stage(setting: int | str, world_size: int, bf16: bool = False) -> int:
    if setting == "auto":
        return 2 if world_size > 1 or bf16 else 0
    return int(setting)


def resolve_bf16(setting: str, device: torch.device) -> bool:
    if setting == "on":
        return True
    if setting == "off":
        return False
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def native_cpu_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_autocast(setting: str, device: torch.device) -> bool:
    """``autocast: auto`` is on for a CPU with native bf16; on CUDA ``bf16: auto`` is the path."""
    if setting == "auto":
        return device.type == "cpu" and native_cpu_bf16()
    return setting == "bf16"


def build_ds_config(section: DeepSpeedSection, *, micro_batch: int, world_size: int,
                    device: torch.device, num_params: int | None = None) -> dict[str, Any]:
    """A complete DeepSpeed config dict (``extra`` entries are merged in last).

    ZeRO's gradient buckets are capped at the model's size: DeepSpeed allocates a whole
    bucket each step, and its 5e8-element default costs seconds per step for a small model.
    """
    autocast = resolve_autocast(section.autocast, device) and section.bf16 != "on"  # bf16 weights asked for
    bf16 = not autocast and resolve_bf16(section.bf16, device)
    stage = resolve_zero_stage(section.zero_stage, world_size, bf16)
    zero: dict[str, Any] = {"stage": stage}
    if stage in (1, 2):
        bucket = min(section.bucket_size, num_params) if num_params else section.bucket_size
        zero.update({"contiguous_gradients": True, "overlap_comm": device.type == "cuda",
                     "reduce_bucket_size": bucket, "allgather_bucket_size": bucket})
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": section.gradient_accumulation,
        "train_batch_size": micro_batch * section.gradient_accumulation * world_size,
        "gradient_clipping": section.gradient_clipping,
        "zero_optimization": zero,
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": False},
        "steps_per_print": 2**31 - 1,  # the trainer does its own logging
        "wall_clock_breakdown": False,
        "zero_allow_untested_optimizer": True,  # the client AdamW is a plain torch optimizer
    }
    if autocast:
        config["torch_autocast"] = {"enabled": True, "dtype": "bfloat16"}
    if section.activation_checkpointing:
        config["activation_checkpointing"] = {
            "partition_activations": False, "cpu_checkpointing": False,
            "contiguous_memory_optimization": False, "number_checkpoints": None,
            "synchronize_checkpoint_boundary": False, "profile": False,
        }
    return deep_merge(config, section.extra)

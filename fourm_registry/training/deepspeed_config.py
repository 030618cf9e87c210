"""The DeepSpeed config generated from the ``deepspeed`` section of a TrainConfig.

Choices that depend on the machine are resolved here, once:

- ``bf16: auto`` is on for CUDA devices that support bfloat16, off on CPU (where bf16
  matmuls are slower than fp32).
- ``zero_stage: auto`` is ZeRO-2 — except for a single fp32 rank, where ZeRO has nothing
  to partition and only adds copies (its fp32 master partition and gradient buckets:
  ~1.4× a plain AdamW step on CPU, measured in ``benchmarks/bench_trainer.py``), so
  ``auto`` is stage 0 there (~1.0×). Mixed precision always goes through ZeRO's bf16
  optimizer. Give a number to force a stage.
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


def build_ds_config(section: DeepSpeedSection, *, micro_batch: int, world_size: int,
                    device: torch.device, num_params: int | None = None) -> dict[str, Any]:
    """A complete DeepSpeed config dict (``extra`` entries are merged in last).

    ZeRO's gradient buckets are capped at the model's size: DeepSpeed allocates a whole
    bucket each step, and its 5e8-element default costs seconds per step for a small model.
    """
    bf16 = resolve_bf16(section.bf16, device)
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
    if section.activation_checkpointing:
        config["activation_checkpointing"] = {
            "partition_activations": False, "cpu_checkpointing": False,
            "contiguous_memory_optimization": False, "number_checkpoints": None,
            "synchronize_checkpoint_boundary": False, "profile": False,
        }
    return deep_merge(config, section.extra)

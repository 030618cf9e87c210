"""One DeepSpeed engine around a model, configured as ``fourm train`` runs it.

Shared by the trainer and the benchmark, so the figures measure what users run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .config import DeepSpeedSection
from .deepspeed_config import build_ds_config
from .optim import GuardedAdamW, param_groups


@dataclass
class EngineParts:
    engine: Any  # deepspeed.DeepSpeedEngine
    optimizer: GuardedAdamW  # the client AdamW (its param groups carry the lr)
    config: dict[str, Any]  # the generated DeepSpeed config

    @property
    def guards_itself(self) -> bool:
        """True when DeepSpeed steps the client optimizer directly (it must skip bad steps)."""
        return self.optimizer.guard

    def step(self, batch: Any) -> Any:
        """forward → backward → step for one micro-batch; returns the model output."""
        out = self.engine(batch)
        self.engine.backward(out.loss)
        if self.optimizer.guard and self.engine.is_gradient_accumulation_boundary():
            self.optimizer.check_gradients()
        self.engine.step()
        return out


def build_engine(model: torch.nn.Module, section: DeepSpeedSection, *, lr: float,
                 betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8, weight_decay: float = 0.05,
                 micro_batch: int, world_size: int, device: torch.device) -> EngineParts:
    """``deepspeed.initialize`` with a generated config and 4M's AdamW parameter groups."""
    import deepspeed

    config = build_ds_config(section, micro_batch=micro_batch, world_size=world_size, device=device,
                             num_params=sum(p.numel() for p in model.parameters()))
    optimizer = GuardedAdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=config,
                                           dist_init_required=False)
    # DeepSpeed's ZeRO / mixed-precision wrappers skip non-finite steps themselves; when it
    # steps our optimizer directly (stage 0, fp32) the optimizer has to.
    optimizer.guard = engine.optimizer is optimizer
    if world_size == 1 and optimizer.guard:
        engine.enable_backward_allreduce = False  # one rank: nothing to average
    return EngineParts(engine, optimizer, config)

"""Sampling the DiVAE decoders with diffusers' schedulers, set up as 4M sets up its own.

diffusers' ``DDPMScheduler`` / ``DDIMScheduler`` compute 4M's steps (linear betas, zero
terminal SNR by rescaling, x0 prediction, dynamic thresholding, which with
``sample_max_value=1`` is a clamp to [-1, 1]). What they lack is 4M's *trailing* DDIM
schedule: ``arange(T, 0, -(T // n)) - 1`` with an integer stride (diffusers uses ``T / n``;
the two differ when ``n`` does not divide ``T``), so the timesteps are set here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from ...errors import FourmError


@dataclass(frozen=True)
class DiffusionSettings:
    """The noise schedule fields of a released DiVAE ``config.json`` (4M's defaults)."""

    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "v_prediction"
    clip_sample: bool = False
    thresholding: bool = True
    zero_terminal_snr: bool = True
    scheduler: str = "ddpm"

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> DiffusionSettings:
        names = cls.__dataclass_fields__
        return cls(**{k: cfg[k] for k in names if k in cfg and cfg[k] is not None})


def make_scheduler(settings: DiffusionSettings, kind: Literal["ddpm", "ddim"] | None = None) -> Any:
    """A diffusers scheduler with 4M's settings (``kind`` defaults to the model's own)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    if settings.beta_schedule not in ("linear", "scaled_linear", "squaredcos_cap_v2"):
        raise FourmError(f"DiVAE beta schedule {settings.beta_schedule!r} is not supported.")
    common = {
        "num_train_timesteps": settings.num_train_timesteps, "beta_start": 0.0001, "beta_end": 0.02,
        "beta_schedule": settings.beta_schedule, "prediction_type": settings.prediction_type,
        "clip_sample": settings.clip_sample, "thresholding": settings.thresholding,
        "dynamic_thresholding_ratio": 0.995, "clip_sample_range": 1.0, "sample_max_value": 1.0,
        "rescale_betas_zero_snr": settings.zero_terminal_snr,
    }
    if (kind or settings.scheduler) == "ddim":
        return DDIMScheduler(set_alpha_to_one=True, steps_offset=0, timestep_spacing="trailing", **common)
    return DDPMScheduler(variance_type="fixed_small", timestep_spacing="leading", **common)


def set_steps(scheduler: Any, steps: int) -> torch.Tensor:
    """Set ``steps`` inference steps the way 4M does and return the timesteps."""
    from diffusers import DDIMScheduler

    scheduler.set_timesteps(steps)
    if isinstance(scheduler, DDIMScheduler):
        total = scheduler.config.num_train_timesteps
        scheduler.timesteps = torch.from_numpy(np.arange(total, 0, -(total // steps)).astype(np.int64) - 1)
    return scheduler.timesteps


StepHook = Callable[[int, int, torch.Tensor, torch.Tensor], None]


@torch.no_grad()
def sample(denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], shape: tuple[int, ...],
           scheduler: Any, steps: int, generator: torch.Generator | None = None,
           on_step: StepHook | None = None, device: Any = "cpu") -> torch.Tensor:
    """x_T ~ N(0, I) drawn from ``generator`` first, then one scheduler step per timestep.

    ``denoise(x_t, t)`` is the model; ``on_step(i, t, model_output, prev_sample)`` sees each step.
    """
    x = torch.randn(shape, generator=generator).to(device)
    for i, t in enumerate(set_steps(scheduler, steps)):
        out = denoise(x, t)
        x = scheduler.step(out.float(), t, x, generator=generator).prev_sample
        if on_step is not None:
            on_step(i, int(t), out, x)
    return x

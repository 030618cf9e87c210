"""4M's DiVAE decoder: a diffusion UNet conditioned on the upsampled quantised latents.

Trained with ``diffusers``' DDPM noise schedule (1000 steps by default, 4M predicts the
clean sample) and sampled with a DDIM scheduler (25 steps by default). The condition is
the code grid, projected and upsampled (nearest) to the output resolution, concatenated
to the noisy input channels.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from torch import nn

from .losses import reconstruction_loss


class DiffusionDecoder(nn.Module):
    def __init__(self, config: Any):
        super().__init__()
        self.config = c = config
        levels = len(c.unet_channels)
        down = ["DownBlock2D"] * (levels - 1) + ["AttnDownBlock2D"]
        up = ["AttnUpBlock2D"] + ["UpBlock2D"] * (levels - 1)
        self.cond_proj = nn.Conv2d(c.code_dim, c.cond_channels, kernel_size=1)
        self.unet = UNet2DModel(
            in_channels=c.out_channels + c.cond_channels, out_channels=c.out_channels,
            block_out_channels=tuple(c.unet_channels), down_block_types=tuple(down),
            up_block_types=tuple(up), layers_per_block=c.layers_per_block,
            norm_num_groups=c.norm_num_groups, attention_head_dim=8,
        )
        self.train_scheduler = DDPMScheduler(
            num_train_timesteps=c.train_timesteps, beta_schedule=c.beta_schedule,
            prediction_type=c.prediction_type, clip_sample=False,
        )

    def condition(self, z_q: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.cond_proj(z_q), scale_factor=self.config.pixels_per_token,
                             mode="nearest")

    def _predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.unet(torch.cat([x_t, cond], dim=1), t).sample

    def training_loss(self, z_q: torch.Tensor, x0: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise ``x0`` at random timesteps; regress the scheduler's target. Returns (loss, x̂0)."""
        sched = self.train_scheduler
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), device=x0.device)
        x_t = sched.add_noise(x0, noise, t)
        pred = self._predict(x_t, t, self.condition(z_q))
        if sched.config.prediction_type == "sample":
            target = x0
        elif sched.config.prediction_type == "epsilon":
            target = noise
        else:
            target = sched.get_velocity(x0, noise, t)
        return reconstruction_loss(loss, pred, target), pred

    def sampling_scheduler(self, steps: int | None = None) -> DDIMScheduler:
        sched = DDIMScheduler.from_config(self.train_scheduler.config)
        sched.set_timesteps(steps or self.config.sample_steps)
        return sched

    @torch.no_grad()
    def sample(self, z_q: torch.Tensor, steps: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Run the DDIM sampler from pure noise to an output conditioned on ``z_q``."""
        cond = self.condition(z_q)
        shape = (z_q.shape[0], self.config.out_channels, *cond.shape[-2:])
        x = torch.randn(shape, generator=generator, device=z_q.device, dtype=z_q.dtype)
        sched = self.sampling_scheduler(steps)
        for t in sched.timesteps:
            t_batch = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
            x = sched.step(self._predict(x, t_batch, cond), t, x).prev_sample
        return x

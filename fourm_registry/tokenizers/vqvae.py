"""The VQ-VAE: a convolutional encoder → cosine codebook → a decoder (convolutional or diffusion).

Encoder and convolutional decoder are ``diffusers``' VAE ``Encoder``/``Decoder`` (ResNet
blocks, a mid block with attention); each level halves the resolution, so one token covers
``pixels_per_token`` = 2^(levels-1) input pixels and any input whose sides are multiples of
that works. The diffusion decoder (4M's DiVAE) lives in :mod:`.divae`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers.models.autoencoders.vae import Decoder, Encoder
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import FourmError
from .losses import reconstruction_loss
from .vq import CosineQuantizer
from .vqconfig import CONFIG_FILE, WEIGHTS_FILE, VQVAEConfig


class VQVAE(nn.Module):
    """``encode(x) -> indices``, ``decode(indices) -> x̂``, ``forward(x) -> losses & outputs``."""

    def __init__(self, config: VQVAEConfig):
        super().__init__()
        self.config = c = config
        chans = c.level_channels
        self.encoder = Encoder(
            in_channels=c.in_channels, out_channels=c.code_dim, block_out_channels=tuple(chans),
            down_block_types=("DownEncoderBlock2D",) * len(chans), layers_per_block=c.layers_per_block,
            norm_num_groups=c.norm_num_groups, double_z=False,
        )
        self.quantizer = CosineQuantizer(c.vocab_size, c.code_dim, c.ema_decay, c.commitment_weight,
                                         c.c_replace, c.replace_dead_codes)
        self.register_buffer("in_mean", torch.zeros(c.in_channels))
        self.register_buffer("in_std", torch.ones(c.in_channels))
        if c.decoder == "diffusion":
            from .divae import DiffusionDecoder

            self.decoder: nn.Module = DiffusionDecoder(c)
        else:
            self.decoder = Decoder(
                in_channels=c.code_dim, out_channels=c.out_channels, block_out_channels=tuple(chans),
                up_block_types=("UpDecoderBlock2D",) * len(chans), layers_per_block=c.layers_per_block,
                norm_num_groups=c.norm_num_groups,
            )

    # -- input standardisation (feature maps) --------------------------------------------
    @torch.no_grad()
    def fit_standardization(self, x: torch.Tensor) -> None:
        if self.config.standardize:
            self.in_mean.copy_(x.mean(dim=(0, 2, 3)))
            self.in_std.copy_(x.std(dim=(0, 2, 3)).clamp_min(1e-6))

    def _norm_in(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.standardize:
            return x
        return (x - self.in_mean[:, None, None]) / self.in_std[:, None, None]

    def _denorm_out(self, y: torch.Tensor) -> torch.Tensor:
        if not self.config.standardize or self.config.loss == "cross_entropy":
            return y
        return y * self.in_std[:, None, None] + self.in_mean[:, None, None]

    # -- the three uses ----------------------------------------------------------------
    def check_size(self, x: torch.Tensor) -> None:
        ppt = self.config.pixels_per_token
        if x.shape[-1] % ppt or x.shape[-2] % ppt:
            raise ValueError(f"size {tuple(x.shape[-2:])} is not a multiple of {ppt} pixels per token")

    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.check_size(x)
        return self.quantizer(self.encoder(self._norm_in(x)))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """B×C×H×W inputs → B×h×w code indices."""
        return self.quantize(x)[1]

    @torch.no_grad()
    def decode(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """B×h×w code indices → B×C_out×H×W outputs (values, or class logits)."""
        return self._decode_codes(self.quantizer.lookup(indices), generator)

    @torch.no_grad()
    def decode_expected(self, probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """B×h×w×V code probabilities → outputs decoded from each cell's expected code vector
        (:meth:`CosineQuantizer.expected`): a point estimate from one distribution, no sampling."""
        return self._decode_codes(self.quantizer.expected(probs), generator)

    def _decode_codes(self, z_q: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.decoder == "diffusion":
            return self._denorm_out(self.decoder.sample(z_q, generator=generator))
        return self._denorm_out(self.decoder(z_q))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training step outputs: ``loss`` = reconstruction + commitment, and the parts."""
        target = self._norm_in(x)
        z_q, indices, commit = self.quantize(x)
        if self.config.decoder == "diffusion":
            recon_loss, recon = self.decoder.training_loss(z_q, target, self.config.loss)
        else:
            recon = self.decoder(z_q)
            recon_loss = reconstruction_loss(self.config.loss, recon.float(), target)  # fp32 under autocast
        return {"loss": recon_loss + commit, "recon_loss": recon_loss, "commit_loss": commit,
                "indices": indices, "recon": recon}

    # -- persistence ---------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> None:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(json.dumps(self.config.model_dump(), indent=2))
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(out / WEIGHTS_FILE))

    @classmethod
    def from_pretrained(cls, path: str | Path, map_location: str = "cpu") -> VQVAE:
        p = Path(path)
        cfg_file, weights = p / CONFIG_FILE, p / WEIGHTS_FILE
        if not cfg_file.is_file() or not weights.is_file():
            raise FourmError(f"{p} is not a saved VQ tokenizer (needs {CONFIG_FILE} and {WEIGHTS_FILE}).")
        try:
            config = VQVAEConfig.model_validate(json.loads(cfg_file.read_text()))
        except Exception as exc:
            raise FourmError(f"Invalid tokenizer config {cfg_file}: {exc}") from exc
        model = cls(config)
        missing, unexpected = model.load_state_dict(load_file(str(weights), device=map_location),
                                                    strict=False)
        if missing or unexpected:
            raise FourmError(f"Weights {weights} do not fit the config: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}.")
        return model.eval()

    def summary(self) -> dict[str, Any]:
        return {"parameters": sum(p.numel() for p in self.parameters()), **self.config.model_dump()}

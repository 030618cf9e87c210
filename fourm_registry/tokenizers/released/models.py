"""The released 4M tokenizer models: ``VQVAE`` (ViT or MLP decoder) and ``DiVAE`` (patched UNet).

Module names follow the released ``model.safetensors`` (``cls_emb``, ``encoder``,
``quant_proj``, ``quantize``, ``post_quant_proj``, ``decoder``), so those files load with
``strict=True``. Sizes come from an :class:`Architecture`, which the loader in
``fourm_registry.interop.ml4m`` reads from the checkpoint itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .diffusion import DiffusionSettings, StepHook, make_scheduler, sample
from .mlp import BottleneckMLP, MlpSize
from .quantizers import LucidQuantizer, Memcodes, Quantized
from .unet import PatchedUNet, UNetSize


@dataclass(frozen=True)
class ViTSize:
    dim: int
    depth: int
    heads: int
    hidden: int
    grid: tuple[int, int]


@dataclass(frozen=True)
class Architecture:
    """Everything needed to build a released tokenizer; ``config`` is its ``config.json``."""

    kind: str  # "vqvae" | "divae"
    n_channels: int
    latent_dim: int
    codebook_size: int
    encoder: ViTSize | MlpSize
    decoder: ViTSize | MlpSize | UNetSize
    n_labels: int | None = None
    patch_size: int = 16
    patch_size_dec: int | None = None  # a ViT decoder's own patch size, if it differs
    patch_proj: bool = True
    post_mlp: bool = False
    out_conv: bool = False
    quant_type: str = "lucid"
    num_codebooks: int = 1
    diffusion: DiffusionSettings = field(default_factory=DiffusionSettings)
    config: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def tokens_per_position(self) -> int:
        return self.num_codebooks if self.quant_type == "memcodes" else 1


def _encoder(a: Architecture) -> nn.Module:
    from .vit import ViTEncoder

    if isinstance(a.encoder, MlpSize):
        return BottleneckMLP(a.encoder, dim_in=a.n_channels)
    e = a.encoder
    return ViTEncoder(a.n_channels, a.patch_size, e.dim, e.depth, e.heads, e.hidden, e.grid,
                      a.patch_proj, a.post_mlp)


class ReleasedTokenizer(nn.Module):
    """Encoder + quantiser shared by both families; ``tokenize`` / ``encode`` as in 4M."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = a = arch
        self.cls_emb = nn.Embedding(a.n_labels, a.n_channels) if a.n_labels else None
        self.encoder = _encoder(a)
        enc_dim = a.encoder.width if isinstance(a.encoder, MlpSize) else a.encoder.dim
        self.quant_proj = nn.Conv2d(enc_dim, a.latent_dim, 1)
        cfg = a.config
        if a.quant_type == "memcodes":
            self.quantize: nn.Module = Memcodes(a.latent_dim, a.codebook_size, a.num_codebooks)
        else:
            self.quantize = LucidQuantizer(a.codebook_size, a.latent_dim, cfg.get("ema_decay", 0.99),
                                           cfg.get("commitment_weight", 1.0),
                                           cfg.get("threshold_ema_dead_code", 0.25))

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Class ids ``B×H×W`` → embedded ``B×C×H×W`` (segmentation); other inputs unchanged."""
        if self.cls_emb is not None:
            return self.cls_emb(x.long()).permute(0, 3, 1, 2)
        return x

    def encoder_out(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.prepare_input(x))

    def pre_quant(self, x: torch.Tensor) -> torch.Tensor:
        """Latents before quantisation, ``B×latent_dim×h×w``."""
        return self.quant_proj(self.encoder_out(x))

    def encode(self, x: torch.Tensor) -> Quantized:
        """``(quant, code_loss, tokens, margin)``; tokens ``B×h×w`` (lucid) or ``B×heads×h×w``."""
        return self.quantize(self.pre_quant(x))

    @torch.no_grad()
    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[2]

    def tokens_to_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.quantize.lookup(tokens)


class ReleasedVQVAE(ReleasedTokenizer):
    """ViT or BottleneckMLP decoder: latents → values (or class logits for segmentation)."""

    def __init__(self, arch: Architecture):
        super().__init__(arch)
        a = arch
        out_ch = a.n_labels or a.n_channels
        if isinstance(a.decoder, MlpSize):
            self.decoder: nn.Module = BottleneckMLP(a.decoder, dim_out=out_ch)
            dec_dim = a.decoder.width
        else:
            from .vit import ViTDecoder

            d = a.decoder
            assert isinstance(d, ViTSize)
            self.decoder = ViTDecoder(out_ch, a.patch_size_dec or a.patch_size, d.dim, d.depth, d.heads, d.hidden, d.grid,
                                      a.patch_proj, a.post_mlp, a.out_conv)
            dec_dim = d.dim
        self.post_quant_proj = nn.Conv2d(a.latent_dim, dec_dim, 1)

    def decode_quant(self, quant: torch.Tensor, **_: Any) -> torch.Tensor:
        return self.decoder(self.post_quant_proj(quant))

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.Tensor, **_: Any) -> torch.Tensor:
        return self.decode_quant(self.tokens_to_embedding(tokens))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        quant, loss, _, _ = self.encode(x)
        return self.decode_quant(quant), loss


class ReleasedDiVAE(ReleasedTokenizer):
    """Diffusion decoder: a patched UNet conditioned on the latents by concatenation."""

    def __init__(self, arch: Architecture):
        super().__init__(arch)
        assert isinstance(arch.decoder, UNetSize)
        self.decoder = PatchedUNet(arch.n_channels, arch.latent_dim, arch.decoder)
        self.noise_scheduler = make_scheduler(arch.diffusion)

    def native_size(self) -> int:
        grid = self.arch.encoder.grid if isinstance(self.arch.encoder, ViTSize) else (1, 1)
        return grid[0] * self.arch.patch_size

    @torch.no_grad()
    def decode_quant(self, quant: torch.Tensor, timesteps: int | None = None, scheduler: Any = None,
                     generator: torch.Generator | None = None, image_size: int | tuple[int, int] | None = None,
                     on_step: StepHook | None = None) -> torch.Tensor:
        """Sample an image from latents; defaults as 4M: its own scheduler, T steps, native size."""
        size = image_size or quant.shape[-1] * self.arch.patch_size
        h, w = (size, size) if isinstance(size, int) else size
        sched = scheduler if scheduler is not None else self.noise_scheduler
        steps = timesteps or self.arch.diffusion.num_train_timesteps
        shape = (quant.shape[0], self.arch.n_channels, h, w)
        return sample(lambda x, t: self.decoder(x, t, quant), shape, sched, steps, generator, on_step,
                      device=quant.device)

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return self.decode_quant(self.tokens_to_embedding(tokens), **kwargs)

    def forward(self, clean: torch.Tensor, noisy: torch.Tensor,
                timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training forward: the x0 (or eps / v) estimate for ``noisy`` at ``timesteps``."""
        quant, loss, _, _ = self.encode(clean)
        return self.decoder(noisy, timesteps, quant), loss

    def training_loss(self, clean: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One denoising objective step: random t (always including T-1), noise, mse on the target."""
        b = clean.shape[0]
        total = self.arch.diffusion.num_train_timesteps
        t = torch.randint(0, total, (b,), generator=generator).to(clean.device)
        t[0] = total - 1
        noise = torch.randn(clean.shape, generator=generator).to(clean.device)
        noisy = self.noise_scheduler.add_noise(clean, noise, t)
        quant, code_loss, tokens, _ = self.encode(clean)
        pred = self.decoder(noisy, t, quant)
        kind = self.arch.diffusion.prediction_type
        target = clean if kind == "sample" else noise if kind == "epsilon" else \
            self.noise_scheduler.get_velocity(clean, noise, t)
        rec = F.mse_loss(pred, target)
        return {"loss": rec + code_loss, "recon_loss": rec, "commit_loss": code_loss, "tokens": tokens}

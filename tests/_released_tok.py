"""Tiny random tokenizers written in the released 4M layout (ml-4m config keys + safetensors)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fourm_registry.interop.ml4m.tokenizers import save_released_tokenizer
from fourm_registry.tokenizers.released import (
    Architecture,
    MlpSize,
    ReleasedDiVAE,
    ReleasedVQVAE,
    UNetSize,
    ViTSize,
)
from fourm_registry.tokenizers.released.diffusion import DiffusionSettings


def write_tiny(path: Path, kind: str, *, n_channels: int = 3, n_labels: int | None = None, image: int = 32,
               patch: int = 8, codebook: int = 64, dim: int = 64, out_conv: bool = False,
               patch_proj: bool = True, heads: int = 2, seed: int = 0) -> Path:
    """``kind``: ``vit`` (ViT VQ-VAE), ``divae`` (patched UNet, x0, linear, zero SNR) or ``mlp``."""
    torch.manual_seed(seed)
    grid = (image // patch, image // patch) if patch_proj else (image, image)
    vit = ViTSize(dim=dim, depth=1, heads=1, hidden=2 * dim, grid=grid)
    cfg: dict[str, Any] = {"image_size": image if patch_proj else image * patch, "n_channels": n_channels,
                               "n_labels": n_labels, "patch_size": patch, "patch_proj": patch_proj, "post_mlp": True,
                               "quant_type": "lucid", "codebook_size": codebook, "num_codebooks": 1, "latent_dim": 16,
                               "norm_codes": True, "norm_latents": False, "enc_type": "vit_b_enc", "undo_std": False}
    if kind == "mlp":
        mlp_id = "BottleneckMLP/B_1-Wi_32"
        cfg = {"n_channels": n_channels, "n_labels": None, "enc_type": mlp_id, "dec_type": mlp_id, "quant_type": "memcodes",
                   "codebook_size": codebook, "num_codebooks": heads, "latent_dim": 16, "undo_std": False}
        arch = Architecture(kind="vqvae", n_channels=n_channels, latent_dim=16, codebook_size=codebook,
                            encoder=MlpSize(1, 32), decoder=MlpSize(1, 32), quant_type="memcodes",
                            num_codebooks=heads, config=cfg)
        model: Any = ReleasedVQVAE(arch)
    elif kind == "divae":
        diff = DiffusionSettings(beta_schedule="linear", prediction_type="sample", zero_terminal_snr=True)
        cfg.update(dec_type="unet_patched", num_train_timesteps=1000, beta_schedule="linear",
                   prediction_type="sample", scheduler="ddpm", clip_sample=False, thresholding=True,
                   zero_terminal_snr=True)
        unet = UNetSize(patch_size=4, model_channels=32, num_res_blocks=1, channel_mult=(1, 2),
                        attention_resolutions=(2,))
        arch = Architecture(kind="divae", n_channels=n_channels, latent_dim=16, codebook_size=codebook,
                            encoder=vit, decoder=unet, patch_size=patch, post_mlp=True, diffusion=diff, config=cfg)
        model = ReleasedDiVAE(arch)
    else:
        cfg.update(dec_type="vit_b_dec", out_conv=out_conv)
        arch = Architecture(kind="vqvae", n_channels=n_channels, latent_dim=16, codebook_size=codebook,
                            encoder=vit, decoder=vit, n_labels=n_labels, patch_size=patch, patch_proj=patch_proj,
                            post_mlp=True, out_conv=out_conv, config=cfg)
        model = ReleasedVQVAE(arch)
    with torch.no_grad():  # spread the codebook so random inputs use several codes
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.02 * torch.randn_like(p))
    save_released_tokenizer(model, path)
    return path

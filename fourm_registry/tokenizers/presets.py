"""Sizes of the VQ-VAE tokenizer (``fourm tokenizer train --preset``) and what every setting means.

``base`` is the framework's default (4M-like widths, 32 → 256 channels); ``small`` and
``tiny`` narrow every level so a toy run trains on a laptop CPU in minutes. Any ``--set``
wins over the preset.
"""
from __future__ import annotations

from typing import Any

from ..errors import FourmError
from .vqconfig import VQVAEConfig

# (first level width, widest level, norm groups, code_dim, layers per block) and training length
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"widths": (8, 32), "norm_num_groups": 4, "code_dim": 16, "layers_per_block": 1,
             "steps": 500, "batch_size": 8},
    "small": {"widths": (16, 128), "norm_num_groups": 8, "code_dim": 32, "layers_per_block": 1,
              "steps": 5000, "batch_size": 16},
    "base": {"widths": (32, 256), "norm_num_groups": 32, "code_dim": 32, "layers_per_block": 1,
             "steps": 20000, "batch_size": 16},
}
TRAINING_KEYS = ("steps", "batch_size")

# Every VQVAEConfig field a user may --set (the rest come from the modality's spec).
FROM_SPEC = {"modality", "in_channels", "out_channels", "vocab_size", "image_size"}
SETTING_DOCS: dict[str, str] = {
    "pixels_per_token": "input pixels per token side (a power of two; the spec's patch size for images)",
    "code_dim": "width of each codebook vector (4M: 32)",
    "channels": "encoder/decoder width per level, one entry per level (log2(pixels_per_token)+1 levels)",
    "layers_per_block": "residual blocks per level",
    "norm_num_groups": "GroupNorm groups; every width must be a multiple of it",
    "loss": "reconstruction loss: mse, smooth_l1, l1, l1_mse or cross_entropy (class maps)",
    "commitment_weight": "weight of the commitment loss pulling encoder outputs to their codes",
    "ema_decay": "decay of the codebook's exponential moving average",
    "c_replace": "dead-code threshold divisor: codes used less than B·N/(c_replace·V) are replaced",
    "replace_dead_codes": "replace rarely used codes with encoder outputs of the batch",
    "standardize": "per-channel input mean/std fitted on the first batch (feature maps)",
    "decoder": "conv (VQ-VAE) or diffusion (DiVAE)",
    "unet_channels": "diffusion decoder: UNet widths per level",
    "cond_channels": "diffusion decoder: channels of the token conditioning",
    "train_timesteps": "diffusion decoder: noise steps in training",
    "sample_steps": "diffusion decoder: denoising steps when decoding",
    "prediction_type": "diffusion decoder: sample, epsilon or v_prediction",
    "beta_schedule": "diffusion decoder: linear, scaled_linear or squaredcos_cap_v2",
}


def preset_overrides(name: str, levels: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(VQVAEConfig overrides, training settings)`` of preset ``name`` for ``levels`` levels."""
    if name not in PRESETS:
        raise FourmError(f"Unknown tokenizer preset {name!r}; choose one of {', '.join(PRESETS)}.")
    p = PRESETS[name]
    first, widest = p["widths"]
    model = {"channels": [min(first * 2 ** i, widest) for i in range(levels)],
             "norm_num_groups": p["norm_num_groups"], "code_dim": p["code_dim"],
             "layers_per_block": p["layers_per_block"]}
    return model, {k: p[k] for k in TRAINING_KEYS}


def settings_help() -> str:
    """One line per setting, with its default: the text of ``--set`` in ``--help`` and the README."""
    lines = []
    for name, doc in SETTING_DOCS.items():
        default = VQVAEConfig.model_fields[name].get_default(call_default_factory=True)
        lines.append(f"{name} (default {default}): {doc}")
    return "; ".join(lines)


def undocumented() -> list[str]:
    """VQVAEConfig fields neither documented here nor taken from the spec (a test keeps this empty)."""
    return sorted(set(VQVAEConfig.model_fields) - FROM_SPEC - set(SETTING_DOCS))

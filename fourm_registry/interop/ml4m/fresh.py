"""New tokenizers with the released 4M architectures, to train with ``fourm tokenizer train --arch ml4m``.

Sizes default to the official presets (ViT-B 768/12, patched UNet 256/3/(1,2,2,2), latent 32,
BottleneckMLP B_6-Wi_1024) and can be shrunk with ``--set``: ``dim``, ``blocks``, ``latent_dim``,
``unet_channels``, ``unet_res_blocks``, ``unet_mult``, ``mlp``, ``num_codebooks``. The
``config.json`` written keeps ml-4m's constructor keys; ml-4m itself rebuilds the official
widths from its type strings (``vit_s/b/l``), so only those widths open there too.
"""
from __future__ import annotations

from typing import Any

from ...errors import FourmError

_VIT_TYPES = {512: "vit_s", 768: "vit_b", 1024: "vit_l"}
KNOWN = {"dim", "blocks", "latent_dim", "unet_channels", "unet_res_blocks", "unet_mult", "mlp",
         "num_codebooks", "post_mlp", "ema_decay", "commitment_weight", "threshold_ema_dead_code"}


def _check(settings: dict[str, Any]) -> None:
    unknown = sorted(set(settings) - KNOWN)
    if unknown:
        raise FourmError(f"Unknown --set for an ml4m tokenizer: {', '.join(unknown)} (known: {', '.join(sorted(KNOWN))}).")


def fresh_released_dense(spec: Any, adapter: Any, decoder: str = "vit", **settings: Any) -> Any:
    """A randomly initialised released-architecture tokenizer for a grid modality (a DenseTokenizer)."""
    from ...tokenizers.dense import DenseTokenizer
    from ...tokenizers.released import (
        Architecture,
        ReleasedDiVAE,
        ReleasedVQVAE,
        UNetSize,
        ViTSize,
    )
    from ...tokenizers.released.diffusion import DiffusionSettings
    from .adapters import ReleasedDenseModel

    _check(settings)
    if decoder == "diffusion" and not adapter.diffusion:
        raise FourmError(f"Modality {spec.name!r} does not offer a diffusion decoder.")
    ppt, size = adapter.ppt(spec), adapter.input_size(spec)
    patch_proj = ppt > 1
    dim, depth = int(settings.get("dim", 768)), int(settings.get("blocks", 12))
    grid = (size // ppt, size // ppt)
    vit = ViTSize(dim=dim, depth=depth, heads=max(1, dim // 64), hidden=4 * dim, grid=grid)
    labels = adapter.in_channels if adapter.loss == "cross_entropy" else None
    n_channels = 64 if labels else adapter.in_channels  # class embedding width of 4M's segmentation tokenizers
    latent = int(settings.get("latent_dim", 32))
    enc = f"{_VIT_TYPES.get(dim, 'vit_b')}_enc"
    cfg: dict[str, Any] = {
        "image_size": size if patch_proj else size * spec.tokenizer.patch_size, "n_channels": n_channels,
        "n_labels": labels, "enc_type": enc, "patch_size": ppt if patch_proj else spec.tokenizer.patch_size,
        "patch_proj": patch_proj, "post_mlp": bool(settings.get("post_mlp", True)), "quant_type": "lucid",
        "codebook_size": spec.tokenizer.vocab_size, "num_codebooks": 1, "latent_dim": latent, "norm_codes": True,
        "norm_latents": False, "ema_decay": float(settings.get("ema_decay", 0.99)),
        "threshold_ema_dead_code": float(settings.get("threshold_ema_dead_code", 0.25)),
        "code_replacement_policy": "batch_random", "commitment_weight": float(settings.get("commitment_weight", 1.0)),
        "kmeans_init": False, "sync_codebook": False, "undo_std": False}
    common = {"n_channels": n_channels, "latent_dim": latent, "codebook_size": spec.tokenizer.vocab_size, "encoder": vit,
                  "n_labels": labels, "patch_size": ppt if patch_proj else 1, "patch_proj": patch_proj,
                  "post_mlp": cfg["post_mlp"]}
    if decoder == "diffusion":
        unet = UNetSize(patch_size=4, model_channels=int(settings.get("unet_channels", 256)),
                        num_res_blocks=int(settings.get("unet_res_blocks", 3)),
                        channel_mult=tuple(int(m) for m in settings.get("unet_mult", (1, 2, 2, 2))))
        diff = DiffusionSettings(beta_schedule="linear", prediction_type="sample", zero_terminal_snr=True)
        cfg.update(dec_type="unet_patched", num_train_timesteps=1000, beta_schedule="linear",
                   prediction_type="sample", scheduler="ddpm", clip_sample=False, thresholding=True,
                   zero_terminal_snr=True, conditioning="concat")
        model: Any = ReleasedDiVAE(Architecture(kind="divae", decoder=unet, diffusion=diff, config=cfg, **common))
    else:
        cfg.update(dec_type=f"{_VIT_TYPES.get(dim, 'vit_b')}_dec", out_conv=False)
        model = ReleasedVQVAE(Architecture(kind="vqvae", decoder=vit, config=cfg, **common))
    wrapped = ReleasedDenseModel(model, spec.name, loss=adapter.loss)
    return DenseTokenizer(spec, adapter, wrapped)


def fresh_released_vector(spec: Any, factory: Any, **settings: Any) -> Any:
    """A BottleneckMLP + memcodes tokenizer for a vector modality (a VectorTokenizer)."""
    from ...tokenizers.released import Architecture, ReleasedVQVAE, parse_mlp_id
    from ...tokenizers.vector import VectorTokenizer
    from .adapters import ReleasedVectorModel

    _check(settings)
    n = factory.config(spec).in_features
    mlp_id = str(settings.get("mlp", "BottleneckMLP/B_6-Wi_1024"))
    size, heads = parse_mlp_id(mlp_id), int(settings.get("num_codebooks", spec.num_tokens))
    latent = int(settings.get("latent_dim", size.width))
    cfg = {"n_channels": n, "n_labels": None, "enc_type": mlp_id, "dec_type": mlp_id, "quant_type": "memcodes",
               "codebook_size": spec.tokenizer.vocab_size, "num_codebooks": heads, "latent_dim": latent,
               "sync_codebook": False, "undo_std": False}
    model = ReleasedVQVAE(Architecture(kind="vqvae", n_channels=n, latent_dim=latent,
                                       codebook_size=spec.tokenizer.vocab_size, encoder=size, decoder=size,
                                       quant_type="memcodes", num_codebooks=heads, config=cfg))
    return VectorTokenizer(ReleasedVectorModel(model, spec.name), factory.to_vector, factory.from_vector,
                           factory._shape(spec))

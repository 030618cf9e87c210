"""AIMv2 pre-training: prefix-causal encoder → one causal multimodal decoder over [image; text].

Batch (``dict[name, ModalityBatch]``, as the family's data builds it): the image modality holds
B×N×(p·p·3) patches in [0, 1] with ``target_mask`` True on non-prefix patches (the prefix length
M is the number of leading False cells); the text modality holds B×L token ids with
``input_mask`` True on real tokens. Decoder position i < N predicts patch i+1, position N-1+t
predicts text token t. L = L_text + alpha·L_img, L_img the mean squared error on per-patch
normalised pixels of non-prefix patches only.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import AIMv2Config
from .encoder import AIMv2Encoder, additive, vision_config

FORMAT = "fourm-aimv2/1"


@dataclass
class AIMv2Output:
    loss: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


def normalised_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each patch standardised over its own pixels (MAE's normalised-pixel target)."""
    mean = patches.mean(-1, keepdim=True)
    var = patches.var(-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


def unpatchify(patches: torch.Tensor, patch: int, channels: int = 3) -> torch.Tensor:
    """B×(h·w)×(p·p·C) patches (row by row, channels last) → B×C×H×W (square grid)."""
    b, n, _ = patches.shape
    side = int(round(n ** 0.5))
    x = patches.reshape(b, side, side, patch, patch, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, channels, side * patch, side * patch)


def image_loss(pred: torch.Tensor, patches: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """L2 on normalised pixels: ``pred[:, i]`` predicts patch i+1; only non-prefix targets count."""
    mask = target_mask[:, 1:]
    if not mask.any():
        return pred.sum() * 0.0
    err = (pred[:, :-1].float() - normalised_patches(patches[:, 1:].float())).pow(2).mean(-1)
    return err[mask].mean()


def pretrained_encoder(path: str, image_size: int, patch_size: int) -> AIMv2Encoder:
    """A released encoder to train further; its grid must be the run's (learned positions)."""
    from fourm_registry import FourmError

    enc = AIMv2Encoder.from_pretrained(path)
    got = (int(enc.config.image_size), int(enc.config.patch_size))
    if got != (image_size, patch_size) and not enc.config.is_native:
        raise FourmError(f"model.pretrained_encoder {path} was trained at image_size {got[0]}, patch_size "
                         f"{got[1]}; set the image modality's settings to match (now {image_size}, {patch_size}).")
    return enc


class AIMv2(nn.Module):
    def __init__(self, config: AIMv2Config, image_size: int, patch_size: int, vocab_size: int | None,
                 max_length: int | None, modalities: dict[str, Any] | None = None):
        super().__init__()
        self.config = config
        self.sizes = {"image_size": image_size, "patch_size": patch_size, "vocab_size": vocab_size,
                      "max_length": max_length}
        self.modality_records = dict(modalities or {})
        released = bool(config.pretrained_encoder)
        if released:
            self.encoder = pretrained_encoder(config.pretrained_encoder, image_size, patch_size)
            v = self.encoder.config
            config = config.model_copy(update={  # the released encoder's sizes; exports rebuild from them
                "pretrained_encoder": None, "dim": v.hidden_size, "depth": v.num_hidden_layers,
                "num_heads": v.num_attention_heads, "mlp_hidden_size": v.intermediate_size,
                "norm_eps": v.rms_norm_eps, "qkv_bias": v.qkv_bias, "mlp_bias": v.mlp_bias})
            self.config = config
            if config.native_resolution is not None and not v.is_native:
                from fourm_registry import FourmError

                raise FourmError(f"model.native_resolution needs an encoder with sin-cos positions; "
                                 f"{v.name_or_path or 'model.pretrained_encoder'} has learned ones (is_native false).")
        c = config
        if not hasattr(self, "encoder"):
            self.encoder = AIMv2Encoder(vision_config(
                c.dim, c.depth, c.num_heads, c.mlp_hidden, image_size, patch_size, c.norm_eps, c.qkv_bias,
                c.mlp_bias, native=c.native_resolution is not None, init_std=c.init_std))
        dec = vision_config(c.decoder_dim, c.decoder_depth, c.decoder_heads, c.decoder_mlp_hidden,
                            image_size, patch_size, c.norm_eps, c.qkv_bias, c.mlp_bias)
        dec._attn_implementation = "sdpa"
        from transformers.models.aimv2.modeling_aimv2 import Aimv2EncoderLayer, Aimv2RMSNorm

        num_patches = (image_size // patch_size) ** 2
        text_len = (max_length or 0) if c.text else 0
        self.image_proj = nn.Linear(c.dim, c.decoder_dim)
        self.decoder_pos_emb = nn.Parameter(torch.zeros(1, num_patches * 4 + text_len, c.decoder_dim))
        self.decoder = nn.ModuleList([Aimv2EncoderLayer(dec) for _ in range(c.decoder_depth)])
        self.decoder_norm = Aimv2RMSNorm(c.decoder_dim, c.norm_eps)
        self.pixel_head = nn.Linear(c.decoder_dim, patch_size * patch_size * 3)
        if c.text:
            assert vocab_size is not None
            self.text_embed = nn.Embedding(vocab_size, c.decoder_dim)
            self.text_head = nn.Linear(c.decoder_dim, vocab_size)
        self.register_buffer("mean", torch.tensor(c.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(c.std).view(1, 3, 1, 1), persistent=False)
        self._init_weights(skip_encoder=released)

    def _init_weights(self, skip_encoder: bool = False) -> None:
        std = self.config.init_std
        keep = set(self.encoder.modules()) if skip_encoder else set()
        for module in self.modules():
            if module in keep:
                continue
            if isinstance(module, nn.Linear | nn.Conv2d):
                nn.init.trunc_normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
        nn.init.normal_(self.decoder_pos_emb, std=std)

    # -- the public encoder API ------------------------------------------------------
    def pixel_values(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 B×H×W×3, or float B×3×H×W in [0, 1] → the encoder's normalised input."""
        if images.dtype == torch.uint8:
            images = images.permute(0, 3, 1, 2).float() / 255.0
        images = images.to(self.mean.device, self.mean.dtype)
        return (images - self.mean) / self.std

    @torch.no_grad()
    def encode_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, N, D) bidirectional encoder features of images (inference: no prefix mask)."""
        return self.encoder.encode_features(self.pixel_values(images))

    def no_weight_decay(self) -> list[str]:
        """High-resolution adaptation trains without weight decay (the paper's recipe)."""
        return [n for n, _ in self.named_parameters()] if self.config.highres_adaptation else []

    def checkpoint_blocks(self) -> list[nn.Module]:
        return [*self.encoder.vision.encoder.layers, *self.decoder]

    # -- pre-training ------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> AIMv2Output:
        c = self.config
        img = batch[c.image]
        patches = img.inputs.float()
        b, n, _ = patches.shape
        if img.target_mask is not None:
            prefix = n - img.target_mask.sum(1)
            target_mask = img.target_mask
        else:  # no prefix given: draw M ~ U{1..N-1} from the global generator
            prefix = torch.randint(1, n, (b,), device=patches.device)
            target_mask = torch.arange(n, device=patches.device)[None] >= prefix[:, None]
        pixels = (unpatchify(patches, self.sizes["patch_size"]) - self.mean) / self.std
        feats = self.encoder(pixels.to(self.image_proj.weight.dtype), prefix)
        h = self.image_proj(feats)
        parts, text = [h], batch.get(c.text) if c.text else None
        if text is not None:
            parts.append(self.text_embed(text.inputs))
        h = torch.cat(parts, 1)
        h = h + self.decoder_pos_emb[:, : h.shape[1]]
        length = h.shape[1]
        idx = torch.arange(length, device=h.device)
        causal = (idx[None, :, None] >= idx[None, None, :]).expand(b, -1, -1)
        mask = additive(causal, h.dtype)
        for blk in self.decoder:
            h = blk(h, mask)
        h = self.decoder_norm(h)
        losses = {c.image: image_loss(self.pixel_head(h[:, :n]), patches, target_mask)}
        total = c.alpha * losses[c.image]
        if text is not None:
            logits = self.text_head(h[:, n - 1: n - 1 + text.inputs.shape[1]])
            valid = text.input_mask
            losses[c.text] = (F.cross_entropy(logits[valid].float(), text.inputs[valid]) if valid.any()
                              else logits.sum() * 0.0)
            total = total + losses[c.text]
        return AIMv2Output(total, losses)

    # -- saving and loading ------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """``config.json`` (family, model config, sizes) + ``model.safetensors``."""
        from safetensors.torch import save_model

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        record = {"format": FORMAT, "family": "aimv2", "model": self.config.model_dump(mode="json"),
                  "sizes": self.sizes, "modalities": self.modality_records}
        (out / "config.json").write_text(json.dumps(record, indent=2) + "\n")
        save_model(self, str(out / "model.safetensors"), metadata={"format": "pt"})
        return out

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str = "cpu") -> AIMv2:
        from safetensors.torch import load_model

        from fourm_registry import FourmError

        cfg_file = Path(directory) / "config.json"
        record = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
        if record.get("format") != FORMAT:
            raise FourmError(f"{directory} is not an AIMv2 export of fourm (no {FORMAT} config.json).")
        model = cls(AIMv2Config.model_validate(record["model"]), **record["sizes"],
                    modalities=record.get("modalities"))
        missing, unexpected = load_model(model, str(Path(directory) / "model.safetensors"), strict=False)
        if missing or unexpected:
            raise FourmError(f"{directory}: weights do not match (missing {missing[:3]}, unexpected {unexpected[:3]}).")
        return model.to(device).eval()

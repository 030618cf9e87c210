"""Released 4M tokenizers behind fourm's tokenizer protocol (what ``DenseTokenizer`` and
``VectorTokenizer`` call): ``config``, ``encode(x)``, ``decode(ids)``, ``save_pretrained``.

Inputs arrive as fourm's adapters make them: images in [-1, 1] (so a released model's
``undo_std`` de-standardisation is already done), dense values standardised, class
maps one-hot (turned back into ids for the label embedding). ``save_pretrained`` writes the
released layout again, so what fourm saves ml-4m reads.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import FourmError
from ...tokenizers.losses import reconstruction_loss
from .tokenizers import load_released_tokenizer, save_released_tokenizer

DEFAULT_DIFFUSION_STEPS = 25  # what ml-4m's plotting utilities decode with


@dataclass(frozen=True)
class ReleasedInfo:
    """The fields fourm reads from ``tokenizer.config``."""

    modality: str
    in_channels: int
    out_channels: int
    vocab_size: int
    pixels_per_token: int
    decoder: str
    num_tokens: int = 0
    in_features: int = 0
    source: str = "released"

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return asdict(self)


class Usage:
    """Codebook usage since the last reset and dead codes replaced, as fourm's training loop logs them."""

    def __init__(self, model: nn.Module):
        self._model, self.hits = model, torch.zeros(model.arch.codebook_size)

    def add(self, tokens: torch.Tensor) -> None:
        self.hits += torch.bincount(tokens.reshape(-1).cpu(), minlength=self.hits.numel())[: self.hits.numel()]

    def reset_usage(self) -> None:
        self.hits.zero_()

    def usage_fraction(self) -> float:
        return float((self.hits > 0).float().mean())

    @property
    def last_replaced(self) -> int:
        book = getattr(self._model.quantize, "_codebook", None)
        return int(getattr(book, "last_replaced", 0))


class _Released(nn.Module):
    def __init__(self, released: nn.Module, info: ReleasedInfo):
        super().__init__()
        self.released, self.config = released.eval(), info
        self.quantizer = Usage(released)

    def fit_standardization(self, x: torch.Tensor) -> None:
        """Released tokenizers take their inputs as the adapters make them: nothing to fit."""

    fit_normalisation = fit_standardization

    def save_pretrained(self, path: str | Path) -> None:
        save_released_tokenizer(self.released, path)

    def summary(self) -> dict[str, Any]:
        return {"parameters": sum(p.numel() for p in self.parameters()), **self.config.model_dump()}


class ReleasedDenseModel(_Released):
    """A released ViT VQ-VAE or DiVAE for a grid modality: ``B×C×H×W`` ↔ ``B×h×w`` ids."""

    def __init__(self, released: nn.Module, modality: str, diffusion_steps: int = DEFAULT_DIFFUSION_STEPS,
                 loss: str = "mse"):
        a = released.arch
        ppt = a.patch_size if a.patch_proj else 1
        super().__init__(released, ReleasedInfo(
            modality=modality, in_channels=a.n_labels or a.n_channels, out_channels=a.n_labels or a.n_channels,
            vocab_size=a.codebook_size, pixels_per_token=ppt,
            decoder="diffusion" if a.kind == "divae" else "vit"))
        self.diffusion_steps, self.loss = diffusion_steps, loss

    def use_channels(self, n: int) -> bool:
        """Serve a modality whose values have ``n`` channels; a label tokenizer with more labels
        (4M's COCO one has 133 classes + "no class") takes ``n`` classes and decodes among them."""
        labels = self.released.arch.n_labels
        if self.config.in_channels == n:
            return True
        if labels and labels > n:
            self.config = replace(self.config, in_channels=n, out_channels=n)
            return True
        return False

    def _ids_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.argmax(dim=1) if self.released.cls_emb is not None else x

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.released.tokenize(self._ids_input(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step's losses (``loss`` = reconstruction + commitment), as 4M trains them:
        the adapter's loss for ViT decoders, the denoising objective for DiVAEs."""
        r = self.released
        if self.config.decoder == "diffusion":
            out = r.training_loss(x)
            self.quantizer.add(out.pop("tokens").detach())
            return out
        quant, code_loss, tokens, _ = r.encode(self._ids_input(x))
        self.quantizer.add(tokens.detach())
        pred = r.decode_quant(quant)
        rec = reconstruction_loss(self.loss, pred, x)
        return {"loss": rec + code_loss, "recon_loss": rec, "commit_loss": code_loss}

    @torch.no_grad()
    def decode(self, ids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.config.decoder != "diffusion":
            return self.released.decode_tokens(ids)[:, : self.config.out_channels]
        size = (ids.shape[-2] * self.released.arch.patch_size, ids.shape[-1] * self.released.arch.patch_size)
        return self.released.decode_tokens(ids, timesteps=self.diffusion_steps, generator=generator,
                                           image_size=size)


class ReleasedVectorModel(_Released):
    """A released BottleneckMLP + memcodes tokenizer: ``B×F`` vectors ↔ ``B×heads`` ids."""

    def __init__(self, released: nn.Module, modality: str):
        a = released.arch
        super().__init__(released, ReleasedInfo(
            modality=modality, in_channels=a.n_channels, out_channels=a.n_channels, vocab_size=a.codebook_size,
            pixels_per_token=1, decoder="mlp", num_tokens=a.tokens_per_position, in_features=a.n_channels))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.released.tokenize(x[:, :, None, None]).reshape(x.shape[0], -1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training losses on ``B×F`` vectors: smooth-L1 reconstruction (4M's pose / global recipe)."""
        quant, code_loss, tokens, _ = self.released.encode(x[:, :, None, None])
        self.quantizer.add(tokens.detach())
        rec = F.smooth_l1_loss(self.released.decode_quant(quant)[:, :, 0, 0], x)
        return {"loss": rec + code_loss, "recon_loss": rec, "commit_loss": code_loss}

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        return self.released.decode_tokens(ids.reshape(ids.shape[0], -1, 1, 1)).reshape(ids.shape[0], -1)


def released_model_for(spec: Any, source: str | Path, vector: bool = False) -> Any:
    """The released tokenizer at ``source`` wrapped for ``spec``'s tokenizer; sizes checked."""
    released = load_released_tokenizer(source)
    is_vector = released.arch.quant_type == "memcodes" or not hasattr(released.arch.encoder, "grid")
    if is_vector != vector:
        want = "a vector (MLP)" if vector else "a grid (ViT / DiVAE)"
        raise FourmError(f"Modality {spec.name!r} needs {want} tokenizer; {source} is not one.")
    model = ReleasedVectorModel(released, spec.name) if vector else ReleasedDenseModel(released, spec.name)
    if model.config.vocab_size > spec.tokenizer.vocab_size:
        raise FourmError(f"Modality {spec.name!r}: the released tokenizer {source} has "
                         f"{model.config.vocab_size} codes but the modality's vocab_size is "
                         f"{spec.tokenizer.vocab_size}.")
    return model

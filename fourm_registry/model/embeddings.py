"""Default per-kind input embeddings and output heads, used where a spec gives no factory.

Contract for plugin factories ``factory(spec, dim) -> nn.Module``:

- encoder embedding: ``forward(values, positions) -> (x, emb)`` for T selected tokens,
  ``values`` T long ids or T×F floats, ``positions`` T indices into the modality's
  token layout; ``x`` (token content) and ``emb`` (position + modality) are T×dim.
  The module has a ``mod_emb`` parameter (1×1×dim) that the decoder may share.
- decoder embedding: ``forward_embed(ids, positions) -> (x or None, emb)`` (None: the
  model's mask token is the content, as for dense targets) and ``forward_logits(h)``.

Parameter names follow 4M's checkpoints: ``token_emb``, ``proj``, ``pos_emb``, ``mod_emb``,
``to_logits``. Plugin knobs read from ``spec.extras``: ``learned_pos_emb`` (bool),
``channels`` (PIXELS, default 3), ``embedding_dim`` (EMBEDDING, required),
``decoder_token_emb`` (dense decoders keep an unused ``token_emb``, as ml-4m's do).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import FourmError
from ..spec import ModalityKind, ModalitySpec
from ..tokens import PAD_ID


def sincos_1d(length: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """1×length×dim fixed embedding: ``[sin(p ω), cos(p ω)]`` with ω = T^(-i/(dim/2))."""
    omega = 1.0 / temperature ** (torch.arange(dim // 2, dtype=torch.float32) / (dim // 2))
    angles = torch.arange(length, dtype=torch.float32)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)[None]


def sincos_2d(height: int, width: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """1×(h·w)×dim fixed embedding for row-major cells: row sin/cos, then column sin/cos."""
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                                torch.arange(width, dtype=torch.float32), indexing="ij")
    r = rows.reshape(-1, 1) * omega[None]
    c = cols.reshape(-1, 1) * omega[None]
    return torch.cat([r.sin(), r.cos(), c.sin(), c.cos()], dim=1)[None]


def position_table(spec: ModalitySpec, dim: int) -> torch.Tensor:
    """The fixed position table of a modality: 2D for grids, 1D for everything else."""
    grid = spec.tokenizer.grid
    if spec.kind.is_grid and grid is not None:
        return sincos_2d(grid[0], grid[1], dim)
    return sincos_1d(spec.num_tokens, dim)


def resample_grid_table(table: torch.Tensor, grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """A 1×(h·w)×D row-major position table bicubically resampled to ``new_grid``, as ml-4m
    (and MAE/BEiT) resize fixed sine-cosine tables: ``align_corners=False``, float32."""
    (h, w), (nh, nw) = grid, new_grid
    if table.shape[1] != h * w:
        raise FourmError(f"A position table of {table.shape[1]} cells is not a {h}×{w} grid.")
    image = table.reshape(1, h, w, -1).permute(0, 3, 1, 2).float()
    out = torch.nn.functional.interpolate(image, size=(nh, nw), mode="bicubic", align_corners=False)
    return out.permute(0, 2, 3, 1).reshape(1, nh * nw, -1).to(table.dtype)


class PositionModality(nn.Module):
    """Position table (fixed sine-cosine, or learned if the plugin asks) plus a modality embedding."""

    def __init__(self, spec: ModalitySpec, dim: int):
        super().__init__()
        table = position_table(spec, dim)
        if spec.extras.get("learned_pos_emb", False):
            self.pos_emb = nn.Parameter(torch.zeros_like(table))
        else:
            self.register_buffer("pos_emb", table)
        self.mod_emb = nn.Parameter(torch.zeros(1, 1, dim))

    def position_modality(self, positions: torch.Tensor) -> torch.Tensor:
        return self.pos_emb[0, positions] + self.mod_emb[0, 0]

    def resize_grid(self, grid: tuple[int, int], new_grid: tuple[int, int]) -> None:
        """Run on another grid: the fixed table is resampled (a learned one is resampled too)."""
        table = resample_grid_table(self.pos_emb.detach(), grid, new_grid)
        if isinstance(self.pos_emb, nn.Parameter):
            self.pos_emb = nn.Parameter(table)
        else:
            self.pos_emb = table


class TokenEncoderEmbedding(PositionModality):
    """Token ids (VQ codes, text pieces) → learned embeddings."""

    def __init__(self, spec: ModalitySpec, dim: int):
        super().__init__(spec, dim)
        pad = PAD_ID if spec.kind is ModalityKind.SEQUENCE else None
        self.token_emb = nn.Embedding(spec.tokenizer.vocab_size, dim, padding_idx=pad)

    def forward(self, values: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.token_emb(values), self.position_modality(positions)


class LinearEncoderEmbedding(PositionModality):
    """Float features (flattened pixel patches, precomputed embeddings) → a bias-free projection."""

    def __init__(self, spec: ModalitySpec, dim: int, in_features: int):
        super().__init__(spec, dim)
        self.proj = nn.Linear(in_features, dim, bias=False)

    def forward(self, values: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.proj(values.to(self.proj.weight.dtype)), self.position_modality(positions)


class MaskTokenDecoderEmbedding(PositionModality):
    """Dense targets: content is the model's mask token; only position + modality are added here."""

    def __init__(self, spec: ModalitySpec, dim: int):
        super().__init__(spec, dim)
        self.to_logits = nn.Linear(dim, spec.tokenizer.vocab_size, bias=False)
        if spec.extras.get("decoder_token_emb", False):
            # ml-4m's image decoders carry a token embedding they never use; kept (frozen) so
            # a released checkpoint round-trips with every tensor.
            self.token_emb = nn.Embedding(spec.tokenizer.vocab_size, dim)
            self.token_emb.weight.requires_grad_(False)

    def forward_embed(self, ids: torch.Tensor | None, positions: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, self.position_modality(positions)

    def forward_logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.to_logits(h)


class SequenceDecoderEmbedding(PositionModality):
    """Teacher-forced sequence targets; the output head may share the input embedding's weight."""

    def __init__(self, spec: ModalitySpec, dim: int, tie: bool = True):
        super().__init__(spec, dim)
        self.token_emb = nn.Embedding(spec.tokenizer.vocab_size, dim, padding_idx=PAD_ID)
        self.to_logits = nn.Linear(dim, spec.tokenizer.vocab_size, bias=False)
        if tie:
            self.to_logits.weight = self.token_emb.weight

    def forward_embed(self, ids: torch.Tensor | None, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert ids is not None, "sequence decoder inputs need token ids"
        return self.token_emb(ids), self.position_modality(positions)

    def forward_logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.to_logits(h)


def feature_size(spec: ModalitySpec) -> int | None:
    """Length of one float input token (PIXELS: patch²·channels; EMBEDDING: embedding_dim)."""
    if spec.kind is ModalityKind.PIXELS:
        patch = spec.tokenizer.patch_size or 1
        return patch * patch * int(spec.extras.get("channels", 3))
    if spec.kind is ModalityKind.EMBEDDING:
        if "embedding_dim" not in spec.extras:
            raise FourmError(f"Embedding modality {spec.name!r} must declare extras['embedding_dim'] "
                             "(the length of its precomputed vectors).")
        return int(spec.extras["embedding_dim"])
    return None


def encoder_embedding(spec: ModalitySpec, dim: int) -> nn.Module:
    """The spec's own encoder embedding, or the default for its kind."""
    if spec.encoder_embedding is not None:
        return _checked(spec.encoder_embedding(spec, dim), spec, "encoder_embedding")
    size = feature_size(spec)
    if size is not None:
        return LinearEncoderEmbedding(spec, dim, size)
    return TokenEncoderEmbedding(spec, dim)


def decoder_embedding(spec: ModalitySpec, dim: int, tie_sequence: bool = True) -> nn.Module:
    """The spec's own decoder embedding + head, or the default for its kind."""
    if spec.input_only:
        raise FourmError(f"Modality {spec.name!r} ({spec.kind.value}) is input-only: it has no decoder.")
    if spec.decoder_embedding is not None:
        return _checked(spec.decoder_embedding(spec, dim), spec, "decoder_embedding")
    if spec.kind is ModalityKind.SEQUENCE:
        return SequenceDecoderEmbedding(spec, dim, tie=tie_sequence)
    return MaskTokenDecoderEmbedding(spec, dim)


def _checked(module: Any, spec: ModalitySpec, what: str) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise FourmError(f"Modality {spec.name!r}: {what} factory returned {type(module).__name__}, "
                         "not a torch.nn.Module.")
    return module

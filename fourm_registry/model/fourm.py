"""The 4M encoder–decoder, assembled from the modalities it is given.

Read top to bottom: the encoder embeds and packs the visible tokens of every input modality
and runs pre-norm blocks; the decoder context is a projection of the encoder output plus the
encoder-side embeddings; decoder tokens (mask token for dense targets, teacher-forced ids for
sequences) attend within their own modality (causally for sequences) and to every visible
encoder token; per-modality heads and objectives give the loss.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..batch import Batch, ModalityBatch
from ..errors import FourmError
from ..spec import ModalityKind, ModalitySpec
from . import persistence
from .blocks import DecoderBlock, EncoderBlock, LayerCache, make_norm
from .config import FourMConfig
from .embeddings import decoder_embedding, encoder_embedding
from .layout import Packed, Part, decoder_self_mask, key_mask, pack


@dataclass
class FourMOutput:
    """``loss``: scalar; ``losses``: per target modality that had targets in the batch;
    ``logits``: per modality, T×V rows in (sample, position) order (only if asked)."""

    loss: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: dict[str, torch.Tensor] | None = None


class FourM(nn.Module):
    def __init__(self, config: FourMConfig, specs: Sequence[ModalitySpec],
                 objectives: Mapping[str, Callable[..., torch.Tensor]]):
        super().__init__()
        self.config = config
        self.specs: dict[str, ModalitySpec] = {s.name: s for s in specs}
        self.objectives = dict(objectives)
        self.group_of = {name: i for i, name in enumerate(self.specs)}
        dim = config.dim
        self.encoder_embeddings = nn.ModuleDict({n: encoder_embedding(s, dim) for n, s in self.specs.items()})
        self.decoder_embeddings = nn.ModuleDict({
            n: decoder_embedding(s, dim, config.tie_sequence_embeddings)
            for n, s in self.specs.items() if not s.input_only})
        self.encoder = nn.ModuleList([EncoderBlock(config) for _ in range(config.encoder_depth)])
        self.encoder_norm = make_norm(config)
        self.decoder_proj_context = nn.Linear(dim, dim)  # 4M keeps a bias here
        self.decoder = nn.ModuleList([DecoderBlock(config) for _ in range(config.decoder_depth)])
        self.decoder_norm = make_norm(config)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self._init_weights()
        if config.share_modality_embeddings:
            for name, dec in self.decoder_embeddings.items():
                enc = self.encoder_embeddings[name]
                if hasattr(dec, "mod_emb") and hasattr(enc, "mod_emb"):
                    dec.mod_emb = enc.mod_emb

    # -- construction ----------------------------------------------------------------
    def _init_weights(self) -> None:
        """MAE-style init (as 4M); modules built by plugin factories keep their own init."""
        std = self.config.init_std
        plugin_made = tuple(f"{side}.{n}." for n, s in self.specs.items()
                            for side, factory in (("encoder_embeddings", s.encoder_embedding),
                                                  ("decoder_embeddings", s.decoder_embedding))
                            if factory is not None)
        for name, module in self.named_modules():
            if f"{name}.".startswith(plugin_made):
                continue
            if isinstance(module, nn.Linear):
                split = 3 if name.endswith("qkv") else 2 if name.endswith(".kv") else 1
                bound = math.sqrt(6.0 / (module.weight.shape[0] // split + module.weight.shape[1]))
                nn.init.uniform_(module.weight, -bound, bound)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
        for name, param in self.named_parameters():
            if name.rsplit(".", 1)[-1] in ("mod_emb", "pos_emb", "mask_token") and not name.startswith(plugin_made):
                nn.init.normal_(param, std=std)

    def save_pretrained(self, directory: Any) -> Any:
        """Write ``config.json`` + ``model.safetensors`` (see :mod:`.persistence`)."""
        return persistence.save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, path_or_id: Any, registry: Any = None, **kwargs: Any) -> FourM:
        """Load a saved model (fourm's format or a released ml-4m one) from a directory or Hub id;
        ``registry`` supplies the modality plugins."""
        return persistence.from_pretrained(cls, path_or_id, registry, **kwargs)

    @property
    def modalities(self) -> list[str]:
        return list(self.specs)

    def _check(self, batch: Batch) -> int:
        unknown = sorted(set(batch) - set(self.specs))
        if unknown:
            raise FourmError(f"Batch has modalities {unknown} that this model was not built with "
                             f"(it has {self.modalities}).")
        if not batch:
            raise FourmError("Empty batch: no modalities.")
        return next(iter(batch.values())).batch_size

    def _blocks(self, blocks: nn.ModuleList, h: torch.Tensor, *args: Any) -> torch.Tensor:
        for blk in blocks:
            if self.config.act_checkpoint and self.training and torch.is_grad_enabled():
                h = checkpoint(blk, h, *args, use_reentrant=False)
            else:
                h = blk(h, *args)
        return h

    # -- encoder ---------------------------------------------------------------------
    def encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Visible input tokens → ``(context B×K×D, context_mask B×K bool, True = real token)``."""
        size = self._check(batch)
        parts = []
        for name, mb in batch.items():
            rows, pos = mb.input_mask.nonzero(as_tuple=True)
            x, emb = self.encoder_embeddings[name](mb.inputs[rows, pos], pos)
            parts.append(Part(self.group_of[name], rows, pos, x, emb))
        packed = pack(parts, size, self.config.dim, self.mask_token)
        h = self._blocks(self.encoder, packed.x + packed.emb, key_mask(packed.valid))
        context = self.decoder_proj_context(self.encoder_norm(h)) + packed.emb
        return context, packed.valid

    # -- decoder ---------------------------------------------------------------------
    def _target_part(self, name: str, mb: ModalityBatch) -> tuple[Part, torch.Tensor]:
        """Decoder inputs and labels of one modality: dense cells or teacher-forced sequence steps."""
        emb_module = self.decoder_embeddings[name]
        assert mb.targets is not None and mb.target_mask is not None
        sequence = self.specs[name].kind is ModalityKind.SEQUENCE
        if sequence:  # token t predicts token t+1
            ids, labels = mb.targets[:, :-1], mb.targets[:, 1:]
            mask = mb.target_mask[:, :-1] & mb.target_mask[:, 1:]
        else:
            ids, labels, mask = mb.targets, mb.targets, mb.target_mask
        rows, pos = mask.nonzero(as_tuple=True)
        x, emb = emb_module.forward_embed(ids[rows, pos], pos)
        if x is None:
            x = self.mask_token[0].expand(rows.numel(), -1)
        return Part(self.group_of[name], rows, pos, x, emb, causal=sequence), labels[rows, pos]

    def _decode_packed(self, packed: Packed, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        h = self._blocks(self.decoder, packed.x + packed.emb, context,
                         decoder_self_mask(packed), key_mask(context_mask))
        return self.decoder_norm(h)

    def forward(self, batch: Batch, return_logits: bool = False) -> FourMOutput:
        context, context_mask = self.encode(batch)
        targets = [(n, mb) for n, mb in batch.items() if n in self.decoder_embeddings and mb.targets is not None]
        if not targets:
            raise FourmError("Batch has no target modality: nothing to predict.")
        parts, labels = zip(*(self._target_part(n, mb) for n, mb in targets))
        packed = pack(list(parts), context.shape[0], self.config.dim, context)
        y = self._decode_packed(packed, context, context_mask)
        losses, counts, logits = {}, {}, {}
        for (name, _), (rows, slots), lab in zip(targets, packed.slots, labels):
            out = self.decoder_embeddings[name].forward_logits(y[rows, slots])
            losses[name] = self.objectives[name](out[None], lab[None], torch.ones_like(lab, dtype=torch.bool)[None])
            counts[name] = lab.numel()
            if return_logits:
                logits[name] = out
        return FourMOutput(self._total(losses, counts), {n: v for n, v in losses.items() if counts[n]},
                           logits if return_logits else None)

    def _total(self, losses: dict[str, torch.Tensor], counts: dict[str, int]) -> torch.Tensor:
        """Mean over modalities with targets (or over target tokens); empty ones add 0 to keep the graph."""
        present = [n for n in losses if counts[n]]
        if self.config.loss_type == "token":
            total_tokens = max(sum(counts.values()), 1)
            weights = {n: counts[n] / total_tokens for n in losses}
        else:
            weights = {n: (1.0 / len(present) if n in present else 0.0) for n in losses}
        return sum(losses[n] * weights[n] for n in losses)

    # -- generation entry points -----------------------------------------------------
    def new_cache(self) -> list[LayerCache]:
        """An empty per-layer KV cache for :meth:`decode`."""
        return [LayerCache() for _ in self.decoder]

    def decode(self, name: str, mb: ModalityBatch, context: torch.Tensor, context_mask: torch.Tensor,
               cache: list[LayerCache] | None = None, positions: torch.Tensor | None = None,
               head_t: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``B×L'×V`` for one target modality given the encoder's context.

        Dense: every cell of ``mb.targets``/``target_mask`` is a mask-token query; only cells in
        ``target_mask`` are keys (as in training). With ``positions`` (B×K cell indices) only
        those cells are run, as queries and keys (L' = K, in the order given): the same logits
        as a full decode with ``target_mask`` = those cells, at K/L of the decoder's work.
        Sequence: ``mb.targets`` is the teacher-forced prefix and row t predicts token t+1; with
        ``cache`` only positions not yet cached are run (L' = L - cached) and their keys/values
        are appended. ``head_t``: the output head's weight transposed (d×V, contiguous), which
        a decoding loop may pass to compute the logits as ``h @ head_t`` (see ``sequence_decoder``).
        """
        if name not in self.decoder_embeddings:
            raise FourmError(f"Modality {name!r} has no decoder in this model.")
        assert mb.targets is not None and mb.target_mask is not None
        sequence = self.specs[name].kind is ModalityKind.SEQUENCE
        if cache is not None and not sequence:
            raise FourmError(f"A KV cache only applies to sequence modalities, not {name!r}.")
        if positions is not None and not sequence:
            return self._decode_cells(name, mb, context, context_mask, positions)
        b, length = mb.target_mask.shape
        start = cache[0].self_attn.length if cache else 0
        pos = torch.arange(start, length, device=mb.target_mask.device)
        emb_module = self.decoder_embeddings[name]
        x, emb = emb_module.forward_embed(mb.targets[:, start:].reshape(-1), pos.repeat(b))
        x = self.mask_token[0].expand(emb.shape[0], -1) if x is None else x
        h = (x + emb).view(b, length - start, -1)
        if sequence and length - start == 1 and bool(mb.target_mask.all()):
            self_mask = None  # one new token that may see every earlier one: no mask, fastest kernel
        else:
            keys = torch.arange(length, device=pos.device)
            allowed = mb.target_mask[:, None, :] | (keys[None, None, :] == pos[None, :, None])
            if sequence:
                allowed = allowed & (keys[None, None, :] <= pos[None, :, None])
            self_mask = allowed[:, None]
        cross = key_mask(context_mask)
        for i, blk in enumerate(self.decoder):
            h = blk(h, context, self_mask, cross, cache[i] if cache else None)
        if head_t is not None:
            return self.decoder_norm(h) @ head_t
        return emb_module.forward_logits(self.decoder_norm(h))

    def _decode_cells(self, name: str, mb: ModalityBatch, context: torch.Tensor, context_mask: torch.Tensor,
                      positions: torch.Tensor) -> torch.Tensor:
        """Dense decode of only the ``positions`` cells, which all see each other (no self mask)."""
        b, k = positions.shape
        emb_module = self.decoder_embeddings[name]
        flat = positions.reshape(-1)
        x, emb = emb_module.forward_embed(mb.targets.gather(1, positions).reshape(-1), flat)
        x = self.mask_token[0].expand(emb.shape[0], -1) if x is None else x
        h = (x + emb).view(b, k, -1)
        cross = key_mask(context_mask)
        for blk in self.decoder:
            h = blk(h, context, None, cross)
        return emb_module.forward_logits(self.decoder_norm(h))

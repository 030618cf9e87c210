""":class:`FourM` seen as a :class:`~.protocol.TokenPredictor`.

Encoding is ``FourM.encode``; grid logits come from ``FourM.decode`` run on the queried cells
only (MaskGIT: the still-unknown ones); sequences are decoded with the model's per-layer KV cache
(``FourM.new_cache``), so each new token runs one decoder position instead of the whole prefix.

Sequence layout (as :mod:`fourm_registry.masking` trains it): a fully masked sequence has no
encoder input and the target ``[S_1] ids… [EOS] [S_2]``, so the decoder starts from ``[S_1]``
and stops at ``[EOS]`` or any sentinel; a complete sequence given to the encoder is its ids
followed by ``[EOS]``, all visible.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..batch import Batch, ModalityBatch
from ..spec import ModalitySpec
from ..tokens import EOS_ID, NUM_SENTINELS, PAD_ID, sentinel_id

FIRST_SENTINEL = sentinel_id(1)  # masking numbers spans from [S_1], as 4M does


def complete_sequence(ids: Sequence[Sequence[int]], length: int, batch_size: int,
                      device: torch.device | str = "cpu") -> ModalityBatch:
    """Whole sequences as encoder input: ids + ``[EOS]`` (truncated to fit), padded, all visible."""
    inputs = torch.full((batch_size, length), PAD_ID, dtype=torch.long)
    mask = torch.zeros(batch_size, length, dtype=torch.bool)
    rows = list(ids) if len(ids) == batch_size else list(ids) * batch_size
    for i, row in enumerate(rows[:batch_size]):
        full = [int(t) for t in row][: length - 1] + [EOS_ID]
        inputs[i, : len(full)] = torch.tensor(full, dtype=torch.long)
        mask[i, : len(full)] = True
    return ModalityBatch(inputs=inputs.to(device), input_mask=mask.to(device))


class FourMPredictor:
    """Wraps a :class:`FourM` (put in eval mode) for the generator.

    ``every_cell=True`` is the former grid path, kept as the baseline benchmarks and tests
    compare with: every cell is a decoder query and the wanted cells' logits are gathered.
    """

    def __init__(self, model: Any, every_cell: bool = False):
        self.model = model.eval()
        self.specs: dict[str, ModalitySpec] = dict(model.specs)
        self.every_cell = every_cell

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def input_modalities(self) -> list[str]:
        return list(self.model.encoder_embeddings)

    @property
    def target_modalities(self) -> list[str]:
        return list(self.model.decoder_embeddings)

    def num_tokens(self, modality: str) -> int:
        return self.specs[modality].num_tokens

    def pad_id(self, modality: str) -> int:
        return PAD_ID

    # -- encoder -------------------------------------------------------------------
    def encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = {k: ModalityBatch(inputs=v.inputs, input_mask=v.input_mask.bool())
                  for k, v in batch.items()}
        return self.model.encode(inputs)

    # -- grids ---------------------------------------------------------------------
    def grid_logits(self, context: Any, target: str, positions: torch.Tensor) -> torch.Tensor:
        """Only the queried cells run through the decoder (the others are neither queries nor keys)."""
        ctx, ctx_mask = context
        b, n = positions.shape[0], self.num_tokens(target)
        zeros = torch.zeros(b, n, dtype=torch.long, device=positions.device)
        wanted = torch.zeros(b, n, dtype=torch.bool, device=positions.device).scatter_(1, positions, True)
        if self.every_cell:
            mb = ModalityBatch(inputs=zeros, input_mask=~wanted, targets=zeros, target_mask=wanted)
            logits = self.model.decode(target, mb, ctx, ctx_mask)
            return logits.gather(1, positions[..., None].expand(-1, -1, logits.shape[-1]))
        mb = ModalityBatch(inputs=zeros, input_mask=torch.zeros_like(wanted), targets=zeros,
                           target_mask=wanted)
        return self.model.decode(target, mb, ctx, ctx_mask, positions=positions)

    # -- sequences -----------------------------------------------------------------
    def sequence_start(self, target: str) -> list[int]:
        return [FIRST_SENTINEL]

    def sequence_prompt(self, target: str, batch_size: int) -> ModalityBatch | None:
        """What the encoder sees of a sequence being generated: nothing (fourm's masking), or its
        start sentinel for models trained with ml-4m's masking (``extras["encoder_sees_start"]``)."""
        spec = self.specs[target]
        if not spec.extras.get("encoder_sees_start") or target not in self.model.encoder_embeddings:
            return None
        ids = torch.tensor([self.sequence_start(target)] * batch_size, device=self.device)
        return ModalityBatch(inputs=ids, input_mask=torch.ones_like(ids, dtype=torch.bool))

    def sequence_stop(self, target: str) -> set[int]:
        return {EOS_ID, *(sentinel_id(i) for i in range(NUM_SENTINELS))}

    def sequence_input(self, target: str, ids: Sequence[Sequence[int]], batch_size: int) -> ModalityBatch:
        return complete_sequence(ids, self.num_tokens(target), batch_size, self.device)

    def sequence_decoder(self, context: Any, target: str, use_cache: bool = True):
        ctx, ctx_mask = context
        cache = self.model.new_cache() if use_cache else None
        model = self.model
        extra = {"head_t": head} if cache is not None and (head := row_major_head(model, target)) is not None else {}

        def step(tokens: torch.Tensor) -> torch.Tensor:
            ones = torch.ones_like(tokens, dtype=torch.bool)
            mb = ModalityBatch(inputs=tokens, input_mask=~ones, targets=tokens, target_mask=ones)
            return model.decode(target, mb, ctx, ctx_mask, cache, **extra)[:, -1]

        return step


def row_major_head(model: Any, target: str) -> torch.Tensor | None:
    """The output head's weight as a contiguous d×V copy, for one cached decoding loop on CPU.

    At batch 1, ``h @ Wᵀ`` over this copy runs 1.3–6× faster on CPU than ``linear`` over the
    V×d weight (``benchmarks/bench_head.py``); the head is a third of a small model's caption
    decoding. Made per call of ``sequence_decoder`` (the weights cannot change during one
    decoding loop), never kept: a model that trains on is never decoded with a stale copy.
    ``None`` where the model's ``decode`` takes no ``head_t`` or the head is not a bias-free
    linear on CPU.
    """
    if "head_t" not in inspect.signature(model.decode).parameters:
        return None
    lin = getattr(model.decoder_embeddings[target], "to_logits", None)
    if not isinstance(lin, nn.Linear) or lin.bias is not None or lin.weight.device.type != "cpu":
        return None
    return lin.weight.detach().t().contiguous()

"""Porting aid: run an ml-4m style ``mod_dict`` through a fourm model, with ml-4m's semantics.

``mod_dict`` maps an ml-4m domain (``tok_rgb@224``, ``caption``, ``rgb@224``…) to ``tensor``,
``input_mask`` and ``target_mask`` (``True`` = *not* used, as in ml-4m) and optionally
``decoder_attention_mask`` (the standard layouts, which fourm's decoder mask equals: images
attend within their modality, sequences causally). :func:`forward_mod_dict` returns what
``FourM.forward(mod_dict, num_encoder_tokens, num_decoder_tokens, loss_type)`` computes there:
per-domain logits (with the (batch, position) of each row), per-domain losses and the total,
including ml-4m's conventions: the first ``num_encoder_tokens`` visible tokens in ``mod_dict``
order, the first ``num_decoder_tokens`` targets in a ``random.sample`` order of the decoder
domains (seed Python's ``random`` as you did for ml-4m), ``'mod'`` = mean over every decoder
domain of the dict (empty ones count 0), ``'token'`` = weighted by rows × vocabulary.
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ...batch import ModalityBatch
from ...errors import FourmError
from ...spec import ModalityKind, ModalitySpec
from .domains import domain_name

ModDict = Mapping[str, Mapping[str, torch.Tensor]]


@dataclass
class Ml4mOutput:
    loss: torch.Tensor
    mod_loss: dict[str, torch.Tensor] = field(default_factory=dict)  # per domain
    logits: dict[str, torch.Tensor] = field(default_factory=dict)  # per domain: rows × vocab
    rows: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # (batch, pos)


def domains_of(model: Any) -> dict[str, str]:
    """ml-4m domain → modality name for every modality of ``model``."""
    return {domain_name(spec): name for name, spec in model.specs.items()}


def _encodes(spec: ModalitySpec) -> bool:
    return spec.extras.get("ml4m_in", 0) is not None


def _compact(hidden: torch.Tensor, tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Used entries of each row moved to the front (order kept): ``(values, mask, raw positions)``."""
    order = torch.argsort(hidden.to(torch.int8), dim=1, stable=True)
    count = (~hidden).sum(dim=1, keepdim=True)
    mask = torch.arange(hidden.shape[1], device=hidden.device)[None] < count
    return tensor.gather(1, order), mask, order


def _patches(pixels: torch.Tensor, patch: int) -> torch.Tensor:
    b, c, h, w = pixels.shape
    x = pixels.reshape(b, c, h // patch, patch, w // patch, patch).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // patch) * (w // patch), patch * patch * c)


def _entry(spec: ModalitySpec, d: Mapping[str, torch.Tensor], decodes: bool) -> tuple[ModalityBatch, torch.Tensor]:
    """A fourm ModalityBatch for one domain, and the raw tensor position of each target slot."""
    t = d["tensor"]
    hidden = d["input_mask"].bool() if _encodes(spec) else torch.ones_like(d["input_mask"], dtype=torch.bool)
    if spec.kind is ModalityKind.PIXELS:
        return ModalityBatch(_patches(t.float(), spec.tokenizer.patch_size or 16), ~hidden.reshape(t.shape[0], -1)), \
            torch.zeros(0)
    if spec.kind is ModalityKind.SEQUENCE:
        ids = t.long()
        inputs, input_mask, _ = _compact(hidden, ids)
        if not decodes or "target_mask" not in d:
            return ModalityBatch(inputs, input_mask), torch.zeros(0)
        not_target = d["target_mask"].bool()
        targets, target_mask, raw = _compact(not_target, ids)
        counts = target_mask.sum(1)
        span = raw.gather(1, (counts - 1).clamp(min=0)[:, None])[:, 0] - raw[:, 0] + 1
        if bool(((span != counts) & (counts > 0)).any()):
            raise FourmError(f"{spec.name}: the target tokens of a sequence must be contiguous in 'tensor'.")
        return ModalityBatch(inputs, input_mask, targets, target_mask), raw
    ids = t.reshape(t.shape[0], -1).long()
    mb = ModalityBatch(ids, ~hidden.reshape(ids.shape))
    if decodes and "target_mask" in d:
        mb.targets, mb.target_mask = ids, ~d["target_mask"].bool().reshape(ids.shape)
    return mb, torch.zeros(0)


def _check_attention(spec: ModalitySpec, d: Mapping[str, torch.Tensor]) -> None:
    """The decoder mask must be a layout fourm's decoder has: ``n`` at an image's first target
    (all its targets see each other), ``1`` at every sequence target (causal)."""
    if "decoder_attention_mask" not in d or "target_mask" not in d:
        return
    tm = d["target_mask"].bool().reshape(d["target_mask"].shape[0], -1)
    dam = d["decoder_attention_mask"].long().reshape(tm.shape)
    if spec.kind is ModalityKind.SEQUENCE:
        want = (~tm).long()
    else:
        first = torch.argsort(tm.to(torch.int8), dim=1, stable=True)[:, :1]
        want = torch.zeros_like(dam).scatter(1, first, (~tm).sum(1, keepdim=True))
    if not torch.equal(dam, want):
        raise FourmError(f"{spec.name}: decoder_attention_mask is not ml-4m's standard layout (images: the "
                         "target count at the first target; sequences: 1 at every target); fourm's decoder "
                         "attends within each image modality and causally within sequences only.")


def _slots(spec: ModalitySpec, mb: ModalityBatch) -> torch.Tensor:
    """B×L bool: the decoder slots of one modality (sequences: token j predicts j+1)."""
    assert mb.target_mask is not None
    if spec.kind is ModalityKind.SEQUENCE:
        return mb.target_mask[:, :-1] & mb.target_mask[:, 1:]
    return mb.target_mask


def _budget(flags: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """Keep, per sample, the first ``n`` True entries of the concatenation of ``flags``."""
    cat = torch.cat(flags, dim=1)
    kept = cat & (torch.cumsum(cat.long(), dim=1) <= n)
    return list(torch.split(kept, [f.shape[1] for f in flags], dim=1))


def to_batch(model: Any, mod_dict: ModDict, num_encoder_tokens: int | None = None,
             num_decoder_tokens: int | None = None) -> tuple[dict[str, ModalityBatch], list[str], dict]:
    """fourm batch, decoder domain order, and per domain the raw position of each target slot."""
    names = domains_of(model)
    unknown = [d for d in mod_dict if d not in names]
    if unknown:
        raise FourmError(f"Domains {unknown} are not in this model (it has {sorted(names)}).")
    specs = {d: model.specs[names[d]] for d in mod_dict}
    dec = [d for d in mod_dict if names[d] in model.decoder_embeddings
           and specs[d].extras.get("ml4m_out", 0) is not None]
    batch, raw = {}, {}
    for d in mod_dict:
        if d in dec:
            _check_attention(specs[d], mod_dict[d])
        batch[d], raw[d] = _entry(specs[d], mod_dict[d], d in dec)
    if num_encoder_tokens is not None:
        for d, keep in zip(batch, _budget([batch[d].input_mask for d in batch], num_encoder_tokens)):
            batch[d].input_mask = keep
    order = random.sample(dec, len(dec))  # what ml-4m's cat_decoder_tensors draws
    targeted = [d for d in order if batch[d].target_mask is not None]
    if num_decoder_tokens is not None and targeted:
        slots = [_slots(specs[d], batch[d]) for d in targeted]
        for d, s, keep in zip(targeted, slots, _budget(slots, num_decoder_tokens)):
            if specs[d].kind is ModalityKind.SEQUENCE:  # slots are a prefix: k slots need k + 1 targets
                kept = keep.sum(dim=1, keepdim=True)
                length = torch.arange(s.shape[1] + 1, device=s.device)[None]
                batch[d].target_mask = length < torch.where(kept > 0, kept + 1, 0)
            else:
                batch[d].target_mask = keep
    fourm_batch = {names[d]: mb for d, mb in batch.items()}
    return fourm_batch, order, raw


@torch.no_grad()
def forward_mod_dict(model: Any, mod_dict: ModDict, num_encoder_tokens: int | None = None,
                     num_decoder_tokens: int | None = None, loss_type: str = "mod") -> Ml4mOutput:
    """ml-4m's ``FourM.forward`` on ``mod_dict``, computed by the fourm ``model`` (see module doc)."""
    if loss_type not in ("mod", "modality", "token"):
        raise FourmError(f"loss_type must be 'mod' or 'token', not {loss_type!r}.")
    names = domains_of(model)
    batch, order, raw = to_batch(model, mod_dict, num_encoder_tokens, num_decoder_tokens)
    decoder_domains = [d for d in mod_dict if d in order]
    with_rows = {d for d in decoder_domains
                 if batch[names[d]].target_mask is not None
                 and bool(_slots(model.specs[names[d]], batch[names[d]]).any())}
    for d in decoder_domains:
        if d not in with_rows:
            batch[names[d]].targets = batch[names[d]].target_mask = None
    out = model(batch, return_logits=True) if with_rows else None
    result = Ml4mOutput(loss=torch.zeros(()))
    counts = {}
    for d in decoder_domains:
        name, spec = names[d], model.specs[names[d]]
        if d not in with_rows:
            result.mod_loss[d], counts[d] = torch.zeros(()), 0
            continue
        mb = batch[name]
        b, j = _slots(spec, mb).nonzero(as_tuple=True)
        logits = out.logits[name]
        if spec.kind is ModalityKind.SEQUENCE:
            labels, pos = mb.targets[b, j + 1], raw[d][b, j]
        else:
            labels, pos = mb.targets[b, j], j
        result.logits[d], result.rows[d] = logits, (b, pos)
        result.mod_loss[d] = F.cross_entropy(logits.float(), labels)
        counts[d] = logits.numel()
    if not decoder_domains:
        raise FourmError("mod_dict has no domain this model decodes: nothing to compute a loss on.")
    if loss_type == "token":
        total = max(sum(counts.values()), 1)
        result.loss = sum(result.mod_loss[d] * counts[d] for d in decoder_domains) / total
    else:
        result.loss = sum(result.mod_loss.values()) / len(decoder_domains)
    return result

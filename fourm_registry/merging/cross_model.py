"""JAM-Cross for 4M: two parent trunks side by side, joined by bi-directional cross-attention.

Every ``every``-th encoder and decoder layer is followed by a fusion layer in which each
trunk's tokens attend to the other trunk's tokens at the same positions (same mask as that
stack's self-attention) and add the result to their residual stream. The fusion output
projections start at zero, so at initialisation each trunk computes exactly its parent's
function. Per modality, the input embedding is one d_A + d_B wide projection split between
the trunks, and the output head is one linear map over the concatenated trunk outputs
(``FusedHead``), initialised to the weighted parents' heads.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..batch import Batch, ModalityBatch
from ..errors import FourmError
from ..model.attention import KVCache, attend
from ..model.blocks import LayerCache
from ..model.config import FourMConfig
from ..model.fourm import FourM, FourMOutput
from ..model.layout import decoder_self_mask, key_mask, pack
from ..spec import ModalityKind, ModalitySpec

FORMAT, FAMILY = "fourm-cross/1", "4m-cross"


class TrunkAttention(nn.Module):
    """Queries from one trunk, keys/values from the other; zero-initialised output projection."""

    def __init__(self, dim: int, other: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.query_norm = nn.LayerNorm(dim, eps=eps)
        self.context_norm = nn.LayerNorm(other, eps=eps)
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(other, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        for lin, fan_out in ((self.q, dim), (self.kv, dim)):
            bound = math.sqrt(6.0 / (fan_out + lin.weight.shape[1]))
            nn.init.uniform_(lin.weight, -bound, bound)
        nn.init.zeros_(self.proj.weight)

    def forward(self, x: torch.Tensor, other: torch.Tensor, mask: torch.Tensor | None,
                cache: KVCache | None = None) -> torch.Tensor:
        b, n, c = x.shape
        h = self.num_heads
        q = self.q(self.query_norm(x)).view(b, n, h, c // h).transpose(1, 2)
        kv = self.kv(self.context_norm(other)).view(b, other.shape[1], 2, h, c // h).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        if cache is not None:
            k, v = cache.append(k, v)
        out = attend(q, k, v, mask).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class Fusion(nn.Module):
    """One bi-directional fusion layer: A attends to B and B to A (both from the pre-fusion states)."""

    def __init__(self, a: FourMConfig, b: FourMConfig):
        super().__init__()
        self.a_from_b = TrunkAttention(a.dim, b.dim, a.num_heads, a.norm_eps)
        self.b_from_a = TrunkAttention(b.dim, a.dim, b.num_heads, b.norm_eps)

    def forward(self, ha: torch.Tensor, hb: torch.Tensor, mask: torch.Tensor | None,
                cache: tuple[KVCache, KVCache] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ca, cb = cache if cache is not None else (None, None)
        return ha + self.a_from_b(ha, hb, mask, ca), hb + self.b_from_a(hb, ha, mask, cb)


class FusedHead(nn.Module):
    """``logits = [W_A, W_B] · [y_A; y_B]``, kept as two blocks so each parent's part is exact."""

    def __init__(self, dim_a: int, dim_b: int, vocab: int):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(vocab, dim_a))
        self.b = nn.Parameter(torch.zeros(vocab, dim_b))

    def forward(self, ya: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(ya, self.a) + nn.functional.linear(yb, self.b)


@dataclass
class CrossCache:
    """KV caches of both trunks' decoders and of the decoder fusion layers."""

    a: list[LayerCache]
    b: list[LayerCache]
    fusion: dict[str, tuple[KVCache, KVCache]] = field(default_factory=dict)


class FourMCross(nn.Module):
    def __init__(self, config_a: FourMConfig, config_b: FourMConfig, every: int, specs: Sequence[ModalitySpec],
                 objectives: Mapping[str, Callable[..., torch.Tensor]]):
        super().__init__()
        for what in ("encoder_depth", "decoder_depth"):
            da, db = getattr(config_a, what), getattr(config_b, what)
            if da != db:
                raise FourmError(f"--method cross needs parents of the same depth: A has {what} {da}, "
                                 f"B has {what} {db}.")
        if every < 1:
            raise FourmError(f"--every {every}: give a positive layer interval.")
        self.config, self.every = config_a, every
        self.a, self.b = FourM(config_a, specs, objectives), FourM(config_b, specs, objectives)
        self.specs, self.objectives = dict(self.a.specs), dict(objectives)
        self.heads = nn.ModuleDict()
        for name, module in self.a.decoder_embeddings.items():
            for trunk in (self.a, self.b):
                if not isinstance(getattr(trunk.decoder_embeddings[name], "to_logits", None), nn.Linear):
                    raise FourmError(f"--method cross: the decoder of {name!r} has no plain output head "
                                     "(to_logits); its plugin's head cannot be fused.")
            vocab = module.to_logits.weight.shape[0]
            self.heads[name] = FusedHead(config_a.dim, config_b.dim, vocab)
            for trunk in (self.a, self.b):  # the fused head replaces the trunks' own heads
                del trunk.decoder_embeddings[name].to_logits
        self.encoder_fusion = self._fusions(config_a, config_b, config_a.encoder_depth)
        self.decoder_fusion = self._fusions(config_a, config_b, config_a.decoder_depth)

    def _fusions(self, a: FourMConfig, b: FourMConfig, depth: int) -> nn.ModuleDict:
        return nn.ModuleDict({str(i): Fusion(a, b) for i in range(depth) if (i + 1) % self.every == 0})

    # -- what the generator and trainer read -----------------------------------------
    @property
    def modalities(self) -> list[str]:
        return list(self.specs)

    @property
    def encoder_embeddings(self) -> nn.ModuleDict:
        return self.a.encoder_embeddings

    @property
    def decoder_embeddings(self) -> nn.ModuleDict:
        return self.a.decoder_embeddings

    def checkpoint_blocks(self) -> list[nn.Module]:
        return [*self.a.encoder, *self.b.encoder, *self.a.decoder, *self.b.decoder]

    # -- encoder ---------------------------------------------------------------------
    def _embed(self, batch: Batch):
        size = self.a._check(batch)
        packed = []
        for trunk in (self.a, self.b):
            parts = []
            for name, mb in batch.items():
                rows, pos = mb.input_mask.nonzero(as_tuple=True)
                x, emb = trunk.encoder_embeddings[name](mb.inputs[rows, pos], pos)
                parts.append(_part(trunk.group_of[name], rows, pos, x, emb))
            packed.append(pack(parts, size, trunk.config.dim, trunk.mask_token))
        return packed

    def encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(context B×K×(d_A+d_B), mask)``: both trunks' decoder contexts side by side."""
        pa, pb = self._embed(batch)
        mask = key_mask(pa.valid)
        ha, hb = pa.x + pa.emb, pb.x + pb.emb
        for i, (ba, bb) in enumerate(zip(self.a.encoder, self.b.encoder)):
            ha, hb = ba(ha, mask), bb(hb, mask)
            if str(i) in self.encoder_fusion:
                ha, hb = self.encoder_fusion[str(i)](ha, hb, mask)
        ca = self.a.decoder_proj_context(self.a.encoder_norm(ha)) + pa.emb
        cb = self.b.decoder_proj_context(self.b.encoder_norm(hb)) + pb.emb
        return torch.cat([ca, cb], -1), pa.valid

    def _split(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return context[..., : self.a.config.dim], context[..., self.a.config.dim:]

    def _decoder(self, ha, hb, context, self_mask, cross, cache: CrossCache | None = None):
        ca, cb = self._split(context)
        for i, (ba, bb) in enumerate(zip(self.a.decoder, self.b.decoder)):
            ha = ba(ha, ca, self_mask, cross, cache.a[i] if cache else None)
            hb = bb(hb, cb, self_mask, cross, cache.b[i] if cache else None)
            if str(i) in self.decoder_fusion:
                fc = cache.fusion.setdefault(str(i), (KVCache(), KVCache())) if cache else None
                ha, hb = self.decoder_fusion[str(i)](ha, hb, self_mask, fc)
        return self.a.decoder_norm(ha), self.b.decoder_norm(hb)

    # -- training --------------------------------------------------------------------
    def forward(self, batch: Batch, return_logits: bool = False) -> FourMOutput:
        context, context_mask = self.encode(batch)
        ca, cb = self._split(context)
        targets = [(n, mb) for n, mb in batch.items() if n in self.heads and mb.targets is not None]
        if not targets:
            raise FourmError("Batch has no target modality: nothing to predict.")
        parts_a, labels = zip(*(self.a._target_part(n, mb) for n, mb in targets))
        parts_b = [self.b._target_part(n, mb)[0] for n, mb in targets]
        pa = pack(list(parts_a), context.shape[0], self.a.config.dim, ca)
        pb = pack(parts_b, context.shape[0], self.b.config.dim, cb)
        ya, yb = self._decoder(pa.x + pa.emb, pb.x + pb.emb, context, decoder_self_mask(pa),
                               key_mask(context_mask))
        losses, counts, logits = {}, {}, {}
        for (name, _), (rows, slots), lab in zip(targets, pa.slots, labels):
            out = self.heads[name](ya[rows, slots], yb[rows, slots])
            losses[name] = self.objectives[name](out[None], lab[None], torch.ones_like(lab, dtype=torch.bool)[None])
            counts[name] = lab.numel()
            if return_logits:
                logits[name] = out
        return FourMOutput(self.a._total(losses, counts), {n: v for n, v in losses.items() if counts[n]},
                           logits if return_logits else None)

    # -- generation ------------------------------------------------------------------
    def new_cache(self) -> CrossCache:
        return CrossCache(self.a.new_cache(), self.b.new_cache())

    def decode(self, name: str, mb: ModalityBatch, context: torch.Tensor, context_mask: torch.Tensor,
               cache: CrossCache | None = None, positions: torch.Tensor | None = None) -> torch.Tensor:
        """As :meth:`FourM.decode`, through both trunks and the fused head."""
        if name not in self.heads:
            raise FourmError(f"Modality {name!r} has no decoder in this model.")
        assert mb.targets is not None and mb.target_mask is not None
        sequence = self.specs[name].kind is ModalityKind.SEQUENCE
        if cache is not None and not sequence:
            raise FourmError(f"A KV cache only applies to sequence modalities, not {name!r}.")
        cross = key_mask(context_mask)
        if positions is not None and not sequence:  # only the queried cells, which all see each other
            b, k = positions.shape
            ids, pos, self_mask = mb.targets.gather(1, positions).reshape(-1), positions.reshape(-1), None
        else:
            b, length = mb.target_mask.shape
            start = cache.a[0].self_attn.length if cache else 0
            ar = torch.arange(start, length, device=mb.target_mask.device)
            k, ids, pos = length - start, mb.targets[:, start:].reshape(-1), ar.repeat(b)
            keys = torch.arange(length, device=ar.device)
            self_mask = mb.target_mask[:, None, :] | (keys[None, None, :] == ar[None, :, None])
            if sequence:
                self_mask = self_mask & (keys[None, None, :] <= ar[None, :, None])
            self_mask = self_mask[:, None]
        hs = []
        for trunk in (self.a, self.b):
            x, emb = trunk.decoder_embeddings[name].forward_embed(ids, pos)
            x = trunk.mask_token[0].expand(emb.shape[0], -1) if x is None else x
            hs.append((x + emb).view(b, k, -1))
        ya, yb = self._decoder(hs[0], hs[1], context, self_mask, cross, cache)
        return self.heads[name](ya, yb)

    # -- files -----------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        from safetensors.torch import save_model

        from ..model.pretrained import modality_record

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        config = {"format": FORMAT, "family": FAMILY,
                  "model": {"a": self.a.config.model_dump(mode="json"), "b": self.b.config.model_dump(mode="json"),
                            "every": self.every},
                  "modalities": {n: modality_record(s) for n, s in self.specs.items()}}
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_model(self, str(out / "model.safetensors"), metadata={"format": "pt"})
        return out


def _part(group, rows, pos, x, emb):
    from ..model.layout import Part

    return Part(group, rows, pos, x, emb)


def build_cross(model_cfg: Mapping[str, Any], specs: Sequence[ModalitySpec], registry: Any) -> FourMCross:
    objectives = {s.name: registry.get_objective(s.loss).fn for s in specs}
    return FourMCross(FourMConfig(**model_cfg["a"]), FourMConfig(**model_cfg["b"]), int(model_cfg.get("every", 1)),
                      specs, objectives)


def load_cross(path: str | os.PathLike, registry: Any = None, device: str = "cpu") -> FourMCross:
    """Load a directory written by :meth:`FourMCross.save_pretrained`."""
    from safetensors.torch import load_model

    from .assemble import registry_for

    if registry is None:
        from ..registry import get_registry

        registry = get_registry()
    directory = Path(path)
    config = json.loads((directory / "config.json").read_text())
    if config.get("format") != FORMAT:
        raise FourmError(f"{directory} is not a cross-fused fourm model (format {config.get('format')!r}).")
    reg = registry_for(config["modalities"], registry)
    model = build_cross(config["model"], [reg.get_modality(n) for n in config["modalities"]], reg)
    missing, unexpected = load_model(model, str(directory / "model.safetensors"), strict=False, device=device)
    if missing or unexpected:
        raise FourmError(f"{directory}/model.safetensors does not match the model: missing "
                         f"{sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}.")
    return model.to(device)

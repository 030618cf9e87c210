"""JAM-Width: one model of hidden size d_A + d_B and h_A + h_B heads, same depth.

Rule (Aiello et al., "Jointly Training Large Autoregressive Multimodal Models", ICLR 2024,
§2.1, width concatenation): every weight matrix of the wider model is built from the two
parents' matrices as the block matrix ``W = [[W_A, W_A], [W_B, W_B]]``. Property: for a
hidden state split in halves ``[x_A; x_B]``, ``W [x_A; x_B] = [W_A (x_A + x_B); W_B (x_A + x_B)]``
— the top half of the output is parent A's map and the bottom half parent B's map, each
applied to the sum of both halves (tested in ``tests/test_merge.py``). The rule and section
were written from memory of the paper, not checked against its text: verify before citing. The rule needs both
parents of the same size (d_A = d_B, h_A = h_B), as in the paper. Fused projections (qkv,
kv) apply it per part, so heads 0…h_A-1 are A's and the rest B's.

Vectors (norm weights, biases), embeddings, position and modality embeddings, the mask token
and the output heads are concatenated on the hidden axis; a modality that one parent lacks
gets zeros in that parent's half. Per-head q/k norms (size head_dim) are averaged; fixed
sine–cosine position tables are rebuilt for the new width.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import FourmError
from .assemble import build_fourm, load_state, modality_of
from .plan import MergePlan, Parent, check_same_architecture, check_shapes, param_count, unique_state, union_records

SHAPE_KEYS = ("dim", "num_heads", "encoder_depth", "decoder_depth", "mlp_ratio", "gated_mlp", "act", "qkv_bias",
              "proj_bias", "mlp_bias", "norm_bias", "qk_norm", "share_modality_embeddings",
              "tie_sequence_embeddings")


def block(wa: torch.Tensor, wb: torch.Tensor, parts: int = 1) -> torch.Tensor:
    """``[[W_A, W_A], [W_B, W_B]]``, per each of ``parts`` row blocks (qkv: 3, kv: 2)."""
    out = []
    for ca, cb in zip(wa.chunk(parts, 0), wb.chunk(parts, 0)):
        out += [torch.cat([ca, ca], 1), torch.cat([cb, cb], 1)]
    return torch.cat(out, 0)


def concat(ta: torch.Tensor, tb: torch.Tensor, dim: int, parts: int = 1) -> torch.Tensor:
    return torch.cat([t for pair in zip(ta.chunk(parts, dim), tb.chunk(parts, dim)) for t in pair], dim)


def width_config(cfg: dict[str, Any], hidden: int) -> dict[str, Any]:
    """A's config at twice the width, with an ``mlp_ratio`` giving MLP hidden size ``hidden``."""
    from ..model import FourMConfig

    dim = 2 * cfg["dim"]
    wanted = -(-3 * hidden // 2) if cfg.get("gated_mlp", True) else hidden  # int(2·M/3) == hidden
    merged = {k: v for k, v in cfg.items() if k != "preset"}
    merged.update(dim=dim, num_heads=2 * cfg["num_heads"], mlp_ratio=wanted / dim)
    if FourMConfig(**merged).mlp_hidden != hidden:
        raise FourmError(f"--method width: no mlp_ratio gives an MLP of width {hidden} at dim {dim}.")
    return merged


def _parts(name: str) -> int:
    return 3 if ".qkv." in name else 2 if ".kv." in name else 1


def _trunk(name: str, ta: torch.Tensor, tb: torch.Tensor, target: torch.Tensor, w: tuple[float, float]):
    if tuple(target.shape) == tuple(ta.shape):  # per-head q/k norms keep their size
        return ta * w[0] + tb * w[1], "averaged"
    if ta.ndim == 2:
        return block(ta, tb, _parts(name)), "concatenated"
    return concat(ta, tb, ta.ndim - 1, _parts(name)), "concatenated"


def _modality(name: str, ta: torch.Tensor | None, tb: torch.Tensor | None, target: torch.Tensor) -> torch.Tensor:
    leaf = name.rsplit(".", 2)[-2:]
    axis = 0 if leaf == ["proj", "weight"] else target.ndim - 1
    if leaf not in (["token_emb", "weight"], ["to_logits", "weight"], ["proj", "weight"]) and \
            leaf[-1] not in ("pos_emb", "mod_emb"):
        raise FourmError(f"--method width: no rule for the plugin tensor {name} {list(target.shape)}.")
    half = ta if ta is not None else tb
    assert half is not None
    ta = ta if ta is not None else torch.zeros_like(half)
    tb = tb if tb is not None else torch.zeros_like(half)
    return torch.cat([ta, tb], axis)


def plan_width(a: Parent, b: Parent, weights: tuple[float, float], registry: Any) -> tuple[MergePlan, nn.Module, dict]:
    check_same_architecture(a, b, "width", SHAPE_KEYS)
    records = union_records(a, b)
    hidden = 2 * a.model.config.mlp_hidden
    merged = build_fourm(width_config(a.config["model"], hidden), records, registry)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    buffers = {n for n, _ in merged.named_buffers()}
    plan = MergePlan("width", (str(a.path), str(b.path)), parent_params=(param_count(a.model), param_count(b.model)))
    plan.notes.append(f"dim {a.model.config.dim} + {b.model.config.dim}, heads {a.model.config.num_heads} + "
                      f"{b.model.config.num_heads}; square matrices W = [[W_A, W_A], [W_B, W_B]] (JAM §2.1)")
    state, padded = {}, set()
    for name, target in unique_state(merged).items():
        modality = modality_of(name)
        if name in buffers and name.endswith("pos_emb"):
            state[name] = target.clone()
            plan.add(name, "rebuilt", target.shape)
            continue
        if modality is None:
            state[name], action = _trunk(name, sa[name], sb[name], target, weights)
        else:
            ta = sa[name] if modality in a.records else None
            tb = sb[name] if modality in b.records else None
            if ta is None or tb is None:
                padded.add(f"{modality} (zeros for {'A' if ta is None else 'B'})")
            state[name], action = _modality(name, ta, tb, target), "concatenated"
        plan.add(name, action, target.shape)
    if padded:
        plan.notes.append("in one parent only: " + ", ".join(sorted(padded)))
    check_shapes(merged, state, "width")
    return plan, merged, state


def merge_width(a: Parent, b: Parent, weights: tuple[float, float], registry: Any) -> tuple[MergePlan, nn.Module]:
    plan, merged, state = plan_width(a, b, weights, registry)
    return plan, load_state(merged, state)

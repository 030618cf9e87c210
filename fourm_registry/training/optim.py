"""4M's optimisation recipe: AdamW parameter groups, lr scaling and a schedule in tokens seen.

Weight decay applies to matrices only: norms, biases, embedding tables and learned
position/modality tokens are exempt (names a model lists in ``no_weight_decay()`` too).
The learning rate is a pure function of the tokens seen, so a resumed run that restores
the token count also restores the schedule exactly.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.RMSNorm)
_EMBEDDINGS = (nn.Embedding,)


# Substrings that mark learned token tables kept as plain Parameters (position, modality,
# mask or register tokens); a model can also list names in ``no_weight_decay()``.
TOKEN_TABLE_KEYS = ("pos_emb", "mod_emb", "_token", "_tokens")


def no_decay_names(model: nn.Module) -> set[str]:
    """Parameter names exempt from weight decay (see the module docstring)."""
    listed = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    exempt: set[str] = set()
    for mod_name, module in model.named_modules():
        for p_name, param in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if (param.ndim <= 1 or isinstance(module, _NORMS + _EMBEDDINGS)
                    or any(key in p_name for key in TOKEN_TABLE_KEYS)
                    or any(full == n or full.startswith(f"{n}.") for n in listed)):
                exempt.add(full)
    return exempt


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: decayed matrices and exempt parameters (frozen ones left out)."""
    exempt = no_decay_names(model)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name in exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay, "name": "decay"},
              {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"}]
    return [g for g in groups if g["params"]]


def multi_tensor_kwargs(params: list[Any]) -> dict[str, bool]:
    """``fused=True`` where torch has a fused AdamW kernel for every parameter, else ``foreach``.

    torch defaults to its single-tensor loop on CPU (foreach/fused only by default on CUDA);
    the fused kernel updates all tensors in one pass (see benchmarks/bench_optim.py).
    """
    tensors = [p for g in params for p in (g["params"] if isinstance(g, dict) else [g])]
    if not tensors:
        return {}
    supported = set(torch.utils._foreach_utils._get_fused_kernels_supported_devices())
    if all(t.device.type in supported and t.is_floating_point() for t in tensors):
        return {"fused": True}
    return {"foreach": True}


class GuardedAdamW(torch.optim.AdamW):
    """AdamW that refuses an update whose gradients are not finite.

    DeepSpeed's ZeRO optimizers already skip such steps; without ZeRO (stage 0) the engine
    hands the client optimizer the raw gradients and reads its ``overflow`` attribute to
    count skipped steps, which this class sets. ``check_gradients`` records the norm
    before DeepSpeed clips, so the logged norm is the true one.
    """

    def __init__(self, params: Iterable[Any], **kwargs: Any):
        params = [{**g, "params": list(g["params"])} if isinstance(g, dict) else g for g in params]
        if "fused" not in kwargs and "foreach" not in kwargs:
            kwargs.update(multi_tensor_kwargs(params))
        super().__init__(params, **kwargs)
        self.overflow = False
        self.grad_norm: float | None = None
        self.guard = False  # set by the trainer when DeepSpeed does not guard the step

    @torch.no_grad()
    def check_gradients(self) -> float:
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        self.grad_norm = norm
        self.overflow = not math.isfinite(norm)
        return norm

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        if self.guard and self.overflow:
            self.zero_grad(set_to_none=True)
            return None
        return super().step(closure)


def scaled_lr(base_lr: float, global_batch: int, base_batch: int = 256) -> float:
    """4M's rule: lr = base_lr × global batch / 256."""
    return base_lr * global_batch / base_batch


class TokenSchedule:
    """Linear warm-up from 0 to ``peak`` over ``warmup_tokens``, then cosine to ``floor``
    at ``total_tokens`` (and ``floor`` after that)."""

    def __init__(self, peak: float, warmup_tokens: int, total_tokens: int, floor: float = 0.0):
        if total_tokens <= 0 or warmup_tokens < 0:
            raise ValueError("total_tokens must be > 0 and warmup_tokens >= 0")
        self.peak, self.floor = float(peak), float(floor)
        self.warmup, self.total = int(warmup_tokens), int(total_tokens)

    def __call__(self, tokens: int) -> float:
        if self.warmup and tokens < self.warmup:
            return self.peak * tokens / self.warmup
        if tokens >= self.total:
            return self.floor
        span = max(self.total - self.warmup, 1)
        progress = (tokens - self.warmup) / span
        return self.floor + 0.5 * (self.peak - self.floor) * (1.0 + math.cos(math.pi * progress))

    def apply(self, optimizer: torch.optim.Optimizer, tokens: int) -> float:
        lr = self(tokens)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"peak": self.peak, "floor": self.floor, "warmup": self.warmup, "total": self.total}

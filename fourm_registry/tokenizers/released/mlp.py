"""The BottleneckMLP encoder/decoder of the released global-feature and pose tokenizers.

Its size *is* its id: ``BottleneckMLP/B_<blocks>-Wi_<width>[-Ex_<expansion>]`` (expansion 4
by default), from "Scaling MLPs" (arXiv 2306.13575) as 4M names them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import FourmError

_ID = re.compile(r"^BottleneckMLP/B_(\d+)-Wi_(\d+)(?:-[A-Za-z]+_(\d+))?$")


@dataclass(frozen=True)
class MlpSize:
    blocks: int
    width: int
    expansion: int = 4


def parse_mlp_id(model_id: str) -> MlpSize:
    """``'BottleneckMLP/B_6-Wi_1024'`` → ``MlpSize(6, 1024, 4)``."""
    m = _ID.match(model_id.strip())
    if not m:
        raise FourmError(f"Unknown MLP tokenizer type {model_id!r}: expected 'BottleneckMLP/B_<blocks>-Wi_<width>'.")
    return MlpSize(int(m[1]), int(m[2]), int(m[3] or 4))


class BottleneckBlock(nn.Module):
    def __init__(self, thin: int, wide: int):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(thin, wide), nn.GELU(), nn.Linear(wide, thin))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class BottleneckMLP(nn.Module):
    """Pre-norm residual MLP applied to every pixel of a ``B×C×h×w`` map (``h = w = 1`` for vectors)."""

    def __init__(self, size: MlpSize, dim_in: int | None = None, dim_out: int | None = None):
        super().__init__()
        self.dim_in, self.dim_out = dim_in or size.width, dim_out or size.width
        self.linear_in = nn.Linear(self.dim_in, size.width)
        self.linear_out = nn.Linear(size.width, self.dim_out)
        self.blocks = nn.ModuleList(BottleneckBlock(size.width, size.expansion * size.width)
                                    for _ in range(size.blocks))
        self.layernorms = nn.ModuleList(nn.LayerNorm(size.width) for _ in range(size.blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = self.linear_in(x.flatten(2).transpose(1, 2))
        for block, norm in zip(self.blocks, self.layernorms):
            y = y + block(norm(y))
        return self.linear_out(y).transpose(1, 2).reshape(b, self.dim_out, h, w)

"""The batch format shared by masking, the model, the trainer and the generator.

A batch is ``dict[modality name, ModalityBatch]``. Grid modalities keep their full token
grid in both ``inputs`` and ``targets`` and say with masks which cells the encoder sees
and which the decoder predicts (the two are disjoint). Sequence modalities hold the
span-masked input sequence (with sentinels) in ``inputs`` and the target spans in
``targets``; positions are indices within each tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch


@dataclass
class ModalityBatch:
    inputs: torch.Tensor  # B×Ni long token ids, or B×Ni×D float (pixel patches / embeddings)
    input_mask: torch.Tensor  # B×Ni bool: True where the token is given to the encoder
    targets: torch.Tensor | None = None  # B×Nt long ids to predict (None: input-only here)
    target_mask: torch.Tensor | None = None  # B×Nt bool: True where the decoder predicts

    def to(self, device: Any) -> ModalityBatch:
        return replace(self, **{f.name: (getattr(self, f.name).to(device)
                                         if getattr(self, f.name) is not None else None)
                                for f in fields(self)})

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[0]


Batch = dict[str, ModalityBatch]


def batch_to(batch: Batch, device: Any) -> Batch:
    return {name: mb.to(device) for name, mb in batch.items()}

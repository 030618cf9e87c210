"""The batch format shared by masking, the model, the trainer and the generator.

A batch is ``dict[modality name, ModalityBatch]``. Grid modalities keep their full token
grid in both ``inputs`` and ``targets`` and say with masks which cells the encoder sees
and which the decoder predicts (the two are disjoint). Sequence modalities hold the
span-masked input sequence (with sentinels) in ``inputs`` and the target spans in
``targets``; positions are indices within each tensor.

As the data pipeline builds it (``fourm_registry.data``): sequences are the token ids plus
``[EOS]``, masked runs become sentinels numbered from ``[S_1]`` (4M's convention), a target
is ``[S_i] span [S_j] span … [S_last]`` (possibly cut to its budget, always starting at a
sentinel), padding is ``PAD_ID`` with mask False. The model predicts sequence token t+1 from
token t of ``targets`` (teacher forcing). PIXELS/EMBEDDING inputs are float rows: flattened
patches (patch row, patch column, channel) or embedding vectors.
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

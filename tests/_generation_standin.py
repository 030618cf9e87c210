"""A tiny TokenPredictor stand-in for the sampler's unit tests (no FourM needed).

The encoder pools visible token embeddings into one vector; grid logits add a position
embedding; the sequence decoder keeps a running sum of its inputs (cached: incrementally,
uncached: recomputed), and can be told to emit [EOS] after a fixed number of tokens.
"""
from __future__ import annotations

import torch
from torch import nn

from fourm_registry.batch import ModalityBatch
from fourm_registry.tokens import EOS_ID, PAD_ID, sentinel_id


class StandIn(nn.Module):
    def __init__(self, registry, names, dim: int = 16, eos_after: int | None = None, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.specs = {n: registry.get_modality(n) for n in names}
        self.emb = nn.ModuleDict({n: nn.Embedding(s.tokenizer.vocab_size, dim) for n, s in self.specs.items()})
        self.pos = nn.ParameterDict({n: nn.Parameter(torch.randn(s.num_tokens + 1, dim))
                                     for n, s in self.specs.items()})
        self.head = nn.ModuleDict({n: nn.Linear(dim, s.tokenizer.vocab_size) for n, s in self.specs.items()})
        self.eos_after = eos_after
        self.encoded_rows: list[int] = []  # rows of every encode call
        self.decoded_positions = 0  # sequence positions run through the decoder

    input_modalities = property(lambda self: list(self.specs))
    target_modalities = property(lambda self: list(self.specs))

    def encode(self, batch):
        rows = next(iter(batch.values())).batch_size
        self.encoded_rows.append(rows)
        total = torch.zeros(rows, self.pos[next(iter(self.specs))].shape[1])
        count = torch.zeros(rows, 1)
        for name, mb in batch.items():
            m = mb.input_mask.float()[..., None]
            total = total + (self.emb[name](mb.inputs.long()) * m).sum(1)
            count = count + m.sum(1)
        return total / count.clamp(min=1)

    def grid_logits(self, ctx, target, positions):
        return self.head[target](torch.tanh(ctx[:, None] + self.pos[target][positions]))

    def sequence_decoder(self, ctx, target, use_cache=True):
        model = self
        state = {"sum": torch.zeros_like(ctx), "seen": 0}

        def step(tokens):
            if use_cache:
                new = tokens[:, state["seen"]:]
                start = state["seen"]
            else:
                new, start = tokens, 0
                state["sum"] = torch.zeros_like(ctx)
            pos = torch.arange(start, start + new.shape[1])
            state["sum"] = state["sum"] + (model.emb[target](new) * model.pos[target][pos]).sum(1)
            state["seen"] = tokens.shape[1]
            model.decoded_positions += new.shape[1]
            logits = model.head[target](torch.tanh(ctx + state["sum"] / tokens.shape[1]))
            if model.eos_after is not None and tokens.shape[1] - 1 >= model.eos_after:
                logits[:, EOS_ID] = 1e4
            else:
                logits[:, [EOS_ID, sentinel_id(2)]] = -1e4
            return logits

        return step

    def sequence_start(self, target):
        return [sentinel_id(1)]

    def sequence_stop(self, target):
        return {EOS_ID, sentinel_id(2)}

    def pad_id(self, target):
        return PAD_ID

    def num_tokens(self, name):
        return self.specs[name].num_tokens

    def sequence_input(self, target, ids, batch_size):
        n = self.specs[target].num_tokens
        inputs = torch.full((batch_size, n), PAD_ID, dtype=torch.long)
        mask = torch.zeros(batch_size, n, dtype=torch.bool)
        for i, row in enumerate(ids):
            row = list(row)[: n - 1] + [EOS_ID]
            inputs[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = True
        return ModalityBatch(inputs=inputs, input_mask=mask)

"""CM3 batches from the same token shards 4M trains on.

The core's resumable stream (shards → shuffle → decode → repeat → per-sample step → batch) is
reused with a CM3 step in place of 4M's masker: the sample's segments are interleaved with
``<break>`` and, with probability ``mask_prob``, CM3-masked, all from the stream's seeded
generator (held-out batches get the same spans every evaluation; a resumed run replays them).
A batch is ``{"ids": ModalityBatch, "segments": ModalityBatch}`` (segments: the modality index
of each token, never counted as tokens).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from fourm_registry import FourmError
from fourm_registry.masking import MaskedModality

from .vocab import Layout, choose_spans, cm3_sequence, interleave


class CM3Step:
    """One prepared sample → its interleaved (maybe CM3-masked) token sequence."""

    def __init__(self, order: list[str], layout: Layout, cfg: Any):
        self.order, self.layout, self.cfg = order, layout, cfg

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, MaskedModality]:
        body, seg = interleave(sample, self.order, self.layout)
        spans: list[tuple[int, int]] = []
        if rng.random() < self.cfg.mask_prob:
            spans = choose_spans(seg, rng, int(rng.integers(1, self.cfg.max_spans + 1)), self.cfg.span_mean)
        ids, segs = cm3_sequence(body, seg, spans, self.layout)
        return {"ids": MaskedModality(ids, np.ones(len(ids), dtype=bool)),
                "segments": MaskedModality(segs, np.zeros(len(segs), dtype=bool))}


def run_order(model_cfg: Any, specs: list[Any]) -> list[str]:
    names = [s.name for s in specs]
    vocab = model_cfg.vocab or names
    return [n for n in (model_cfg.order or vocab) if n in names]


def vocab_records(model_cfg: Any, registry: Any, specs: list[Any]) -> dict[str, dict[str, Any]]:
    """Per vocabulary modality, its token layout: the run's own specs, the others' from ``vocab_settings``."""
    from fourm_registry.model.pretrained import modality_record

    own = {s.name: s for s in specs}
    extra = registry.with_overrides({n: v for n, v in model_cfg.vocab_settings.items() if n not in own})
    return {n: modality_record(own[n] if n in own else extra.get_modality(n)) for n in (model_cfg.vocab or list(own))}


def check(section: Any, specs: list[Any], model_cfg: Any) -> None:
    names = [s.name for s in specs]
    clash = sorted(set(model_cfg.vocab_settings) & set(names))
    if clash:
        raise FourmError(f"model.vocab_settings names {clash}, which the run trains on: set their sizes in "
                         "modalities.settings instead.")
    bad = [s.name for s in specs if s.kind.input_only]
    if bad:
        raise FourmError(f"model.family cm3 reads token ids; {bad} are input-only (raw values, not token ids).")
    vocab = model_cfg.vocab or names
    outside = [n for n in names if n not in vocab] + [n for n in (model_cfg.order or []) if n not in vocab]
    if outside:
        raise FourmError(f"model.vocab {vocab} lacks {sorted(set(outside))}: every modality the run "
                         "uses (and every one in model.order) must be in the vocabulary.")
    if not run_order(model_cfg, specs):
        raise FourmError("model.order names none of the run's modalities.")


class CM3Data:
    """The family's :class:`~fourm_registry.training.state.DataFactory`."""

    def __init__(self, cfg: Any, registry: Any, specs: list[Any], model_cfg: Any):
        self.cfg, self.registry, self.specs = cfg, registry, specs
        layout = Layout(vocab_records(model_cfg, registry, specs), model_cfg.num_sentinels)
        self.step = CM3Step(run_order(model_cfg, specs), layout, model_cfg)

    def _loader(self, data_cfg: Any, batch_size: int, rank: int, world_size: int, seed: int) -> Any:
        from fourm_registry.data.layouts import shard_source
        from fourm_registry.data.loader import TrainLoader
        from fourm_registry.data.pipeline import StreamPlan
        from fourm_registry.data.prepare import source_field

        source = shard_source(data_cfg.shards, data_cfg.layout, [source_field(s) for s in self.specs])
        plan = StreamPlan(source, self.registry, self.specs, self.step, data_cfg, batch_size, seed, rank, world_size)
        return TrainLoader(plan)

    def train(self, *, rank: int, world_size: int, seed: int) -> Any:
        try:
            return self._loader(self.cfg.data.train_config(), self.cfg.train.batch_size, rank, world_size, seed)
        except FourmError as exc:
            raise FourmError(f"data.shards: {exc}") from exc

    def held_out(self, *, rank: int, world_size: int, seed: int) -> Any | None:
        held = self.cfg.data.held_out_config()
        if held is None:
            return None
        try:
            return self._loader(held, self.cfg.eval.batch_size or self.cfg.train.batch_size, rank, world_size, seed)
        except FourmError as exc:
            raise FourmError(f"data.val_shards: {exc}") from exc

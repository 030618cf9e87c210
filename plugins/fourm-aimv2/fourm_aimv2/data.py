"""AIMv2 batches from the same shards 4M trains on: raw image patches + caption tokens.

The core's resumable stream (shards → shuffle → decode → repeat → per-sample step → batch)
is reused with an AIMv2 step in place of 4M's masker: every patch and the whole caption are
kept, and a prefix length M ~ U{1, …, N-1} is drawn per sample from the stream's seeded
generator, so held-out batches (fixed seed) get the same prefixes every evaluation and a
resumed run replays the same ones. The image modality is read as raw pixels (its shard value),
the text modality as its ``tok_<name>`` ids. ``model.native_resolution`` batches the same
stream at a resolution drawn per step (``native.py``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from fourm_registry import FourmError, ModalityKind
from fourm_registry.masking import MaskedModality
from fourm_registry.tokens import EOS_ID


class PrefixStep:
    """One sample → the image with a prefix cut (``target_mask``: non-prefix patches) and its text."""

    def __init__(self, image: str, text: str | None, max_length: int | None):
        self.image, self.text, self.max_length = image, text, max_length

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, MaskedModality]:
        patches = np.asarray(sample[self.image], dtype=np.float32)
        n = patches.shape[0]
        prefix = int(rng.integers(1, n)) if n > 1 else 1
        out = {self.image: MaskedModality(patches, np.ones(n, dtype=bool), np.arange(n, dtype=np.int64),
                                          np.arange(n) >= prefix)}
        if self.text:
            ids = [int(t) for t in np.asarray(sample[self.text]).reshape(-1)]
            ids = (ids + [EOS_ID])[: self.max_length or None]
            out[self.text] = MaskedModality(np.asarray(ids, dtype=np.int64), np.ones(len(ids), dtype=bool))
        return out


def data_specs(model_cfg: Any, registry: Any, specs: list[Any]) -> list[Any]:
    """The image spec seen as raw pixels, and the text spec as it is."""
    by_name = {s.name: s for s in specs}
    image = by_name[model_cfg.image]
    out = [image.model_copy(update={"kind": ModalityKind.PIXELS})]
    if model_cfg.text:
        out.append(by_name[model_cfg.text])
    return out


def check(section: Any, specs: list[Any], model_cfg: Any) -> None:
    names = {s.name for s in specs}
    wanted = [model_cfg.image, *([model_cfg.text] if model_cfg.text else [])]
    missing = [n for n in wanted if n not in names]
    if missing:
        raise FourmError(f"model.family aimv2 reads {wanted}; add {missing} to modalities.inputs/targets "
                         "(or set model.image / model.text).")
    image = next(s for s in specs if s.name == model_cfg.image)
    if not image.kind.is_grid or not image.tokenizer.image_size or not image.tokenizer.patch_size:
        raise FourmError(f"model.image {model_cfg.image!r} must be an image modality with image_size and patch_size.")
    if model_cfg.text:
        text = next(s for s in specs if s.name == model_cfg.text)
        if text.kind is not ModalityKind.SEQUENCE:
            raise FourmError(f"model.text {model_cfg.text!r} must be a sequence modality (token ids).")


class AIMv2Data:
    """The family's :class:`~fourm_registry.training.state.DataFactory`."""

    def __init__(self, cfg: Any, registry: Any, specs: list[Any], model_cfg: Any):
        self.cfg, self.registry, self.model_cfg = cfg, registry, model_cfg
        self.specs = data_specs(model_cfg, registry, specs)
        text = next((s for s in self.specs if s.name == model_cfg.text), None)
        self.step = PrefixStep(model_cfg.image, model_cfg.text, text.tokenizer.max_length if text else None)

    def _loader(self, data_cfg: Any, batch_size: int, rank: int, world_size: int, seed: int) -> Any:
        from fourm_registry.data.layouts import shard_source
        from fourm_registry.data.loader import TrainLoader
        from fourm_registry.data.pipeline import StreamPlan
        from fourm_registry.data.prepare import source_field

        source = shard_source(data_cfg.shards, data_cfg.layout, [source_field(s) for s in self.specs])
        plan = StreamPlan(source, self.registry, self.specs, self.step, data_cfg, batch_size, seed, rank, world_size)
        return TrainLoader(plan)

    def train(self, *, rank: int, world_size: int, seed: int) -> Any:
        native = self.model_cfg.native_resolution
        data_cfg, batch = self.cfg.data.train_config(), self.cfg.train.batch_size
        if native is not None:  # samples one by one (segments as long as before), batched by the draws
            data_cfg = data_cfg.model_copy(update={"segment_batches": data_cfg.segment_batches * batch})
        try:
            loader = self._loader(data_cfg, 1 if native is not None else batch, rank, world_size, seed)
        except FourmError as exc:
            raise FourmError(f"data.shards: {exc}") from exc
        if native is None:
            return loader
        from .native import NativeResolutionLoader

        image = self.specs[0].tokenizer
        return NativeResolutionLoader(loader, image=self.model_cfg.image, patch=image.patch_size,
                                      base_grid=image.image_size // image.patch_size, base_batch=batch,
                                      sigma=native.sigma, min_batch=native.min_batch, seed=seed, rank=rank)

    def held_out(self, *, rank: int, world_size: int, seed: int) -> Any | None:
        held = self.cfg.data.held_out_config()
        if held is None:
            return None
        try:
            return self._loader(held, self.cfg.eval.batch_size or self.cfg.train.batch_size, rank, world_size, seed)
        except FourmError as exc:
            raise FourmError(f"data.val_shards: {exc}") from exc

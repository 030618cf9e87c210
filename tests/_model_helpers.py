"""Shared helpers for the model/data tests: a small registry (built-ins + input-only test kinds) and batches."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, Registry, TokenizerSpec, hookimpl
from fourm_registry.codecs import npy_codec
from fourm_registry.data import collate, prepare_sample, source_field
from fourm_registry.masking import Masker, MaskingConfig

SMALL = {"rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "depth": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "normal": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "semseg": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "clip": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "caption": {"max_length": 12, "vocab_size": 300},
         "det": {"max_length": 12, "vocab_size": 300}}


class InputOnlyKinds:
    """A test plugin: raw-pixel and precomputed-embedding modalities (kinds no built-in uses)."""

    @hookimpl
    def register_modalities(self, register):
        register(ModalitySpec(name="tpix", kind=ModalityKind.PIXELS,
                              tokenizer=TokenizerSpec(vocab_size=1, image_size=32, patch_size=8),
                              masking=MaskingSpec(rule="uniform"), codec=npy_codec(ndim=3),
                              extras={"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}))
        register(ModalitySpec(name="tvec", kind=ModalityKind.EMBEDDING,
                              tokenizer=TokenizerSpec(vocab_size=1, max_length=3),
                              masking=MaskingSpec(rule="uniform"), codec=npy_codec(ndim=2),
                              extras={"embedding_dim": 8}))


def small_registry() -> Registry:
    return Registry.build(InputOnlyKinds(), allow=[]).with_overrides(SMALL)


def random_sample(spec: ModalitySpec, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """(shard field, value) of one random sample for ``spec``."""
    if spec.kind is ModalityKind.PIXELS:
        size = spec.tokenizer.image_size
        return source_field(spec), rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if spec.kind is ModalityKind.EMBEDDING:
        return source_field(spec), rng.normal(size=(int(rng.integers(1, 4)), 8)).astype(np.float32)
    if spec.kind is ModalityKind.SEQUENCE:
        return spec.token_key, rng.integers(204, spec.tokenizer.vocab_size, int(rng.integers(1, 14)))
    h, w = spec.tokenizer.grid
    return spec.token_key, rng.integers(0, spec.tokenizer.vocab_size, (h, w))


def make_batch(registry: Registry, names: Sequence[str], batch_size: int = 3, seed: int = 0,
               masking: MaskingConfig | None = None):
    """A masked, collated batch of random samples, through the same code as the data pipeline."""
    rng = np.random.default_rng(seed)
    specs = registry.select(names)
    masker = Masker(masking or MaskingConfig(input_tokens=(4, 20), target_tokens=(4, 24)), specs)
    samples = []
    for i in range(batch_size):
        raw = {"__key__": str(i), **dict(random_sample(s, rng) for s in specs)}
        samples.append(masker(prepare_sample(raw, specs), rng))
    return collate(samples)

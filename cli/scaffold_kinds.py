"""The per-kind part of a scaffolded plugin: the ``spec.py`` of each ``--kind``.

Each template is a working modality on the framework's toolkit; ``{name}`` and ``{title}``
are filled in. The plugin author replaces the value conversions and sizes with real ones.
"""
from __future__ import annotations

KINDS = ("dense", "sequence", "feature_map", "embedding")

_HEAD = '''"""The ``{name}`` modality: what a value is, how it is stored, tokenised and masked."""
from __future__ import annotations

from typing import Any

import numpy as np

{imports}

from .labeler import make_labeler

LABELER = LabelerSpec(name="{name}_labeler", modality="{name}", default_model=None, factory=make_labeler,
                      description="TODO: which model labels {name}")
'''

DENSE = _HEAD + '''

def to_input(value: Any) -> np.ndarray:
    """A raw H×W value -> the 1×H×W float network input; ValueError for values it cannot take."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != 2 or not np.isfinite(arr).all():
        raise ValueError(f"expected a finite H×W array, got shape {{arr.shape}}")
    return arr[None]


def from_output(y: np.ndarray) -> np.ndarray:
    """The 1×H×W decoder output -> a raw H×W value."""
    return y[0].astype(np.float32)


SPEC = ModalitySpec(
    name="{name}", kind=ModalityKind.DENSE, description="{title}", value="H×W float32",
    tokenizer=TokenizerSpec(vocab_size=1024, image_size=64, patch_size=8,
                            factory=DenseTokenizerFactory(DenseAdapter(
                                in_channels=1, to_input=to_input, from_output=from_output, loss="mse"))),
    masking=MaskingSpec(rule="uniform"),
    codec=npy_codec(dtype="float32", ndim=2),
    labeler=LABELER,
)
'''

FEATURE_MAP = _HEAD + '''
CHANNELS = 32


def to_input(value: Any) -> np.ndarray:
    """An h×w×C feature map (already at token resolution) -> C×h×w."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[-1] != CHANNELS:
        raise ValueError(f"expected an h×w×{{CHANNELS}} feature map, got shape {{arr.shape}}")
    return arr.transpose(2, 0, 1)


def examples(spec: Any, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = spec.tokenizer.grid
    return [rng.standard_normal((h, w, CHANNELS)).astype(np.float32) for _ in range(2)]


SPEC = ModalitySpec(
    name="{name}", kind=ModalityKind.FEATURE_MAP, description="{title}", value=f"8×8×{{CHANNELS}} float32",
    tokenizer=TokenizerSpec(vocab_size=512, image_size=64, patch_size=8,
                            factory=DenseTokenizerFactory(DenseAdapter(
                                in_channels=CHANNELS, to_input=to_input, pixels_per_token=1,
                                from_output=lambda y: y.transpose(1, 2, 0).astype(np.float32),
                                defaults={{"standardize": True}}))),
    masking=MaskingSpec(rule="uniform"),
    codec=npy_codec(dtype="float32", ndim=3),
    labeler=LABELER,
    extras={{"examples": examples}},
)
'''

SEQUENCE = _HEAD + '''
WORDS = ["first tag", "second tag", "third tag"]  # whole-word tokens of the shared vocabulary


def to_text(value: list[str]) -> str:
    return " , ".join(value)


def from_text(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def examples(spec: Any, rng: np.random.Generator) -> list[list[str]]:
    return [[str(w) for w in rng.choice(WORDS, size=int(rng.integers(1, len(WORDS) + 1)), replace=False)]
            for _ in range(4)]


SPEC = ModalitySpec(
    name="{name}", kind=ModalityKind.SEQUENCE, description="{title}", value="list of tags",
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=8, shared="text", factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=json_codec(check=lambda v: [str(t) for t in v]),
    to_text=to_text, from_text=from_text,
    labeler=LABELER,
    extras={{TEXT_TOKENS_KEY: WORDS, "examples": examples, "roundtrip_tolerance": 0}},
)
'''

EMBEDDING = _HEAD + '''
DIM = 64


def examples(spec: Any, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((n, DIM)).astype(np.float32) for n in (1, spec.num_tokens)]


SPEC = ModalitySpec(
    name="{name}", kind=ModalityKind.EMBEDDING, description="{title}", value=f"N×{{DIM}} float32 (N ≤ 16)",
    tokenizer=TokenizerSpec(vocab_size=1, max_length=16),
    masking=MaskingSpec(rule="uniform"),
    codec=npy_codec(dtype="float32", ndim=2),
    labeler=LABELER,
    extras={{"embedding_dim": DIM, "examples": examples}},
)
'''

TOOLKIT = ("TEXT_TOKENS_KEY", "DenseAdapter", "DenseTokenizerFactory", "LabelerSpec", "MaskingSpec", "ModalityKind",
           "ModalitySpec", "TokenizerSpec", "json_codec", "npy_codec", "sequence_tokenizer_factory")
TEMPLATES = {"dense": DENSE, "sequence": SEQUENCE, "feature_map": FEATURE_MAP, "embedding": EMBEDDING}

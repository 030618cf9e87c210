"""Text-encoder labelers: captions → N×D last hidden states (padding dropped, ≤ 77 tokens).

Unlike image labelers they take caption strings: a labeling run feeds them the sample's
caption. T5 loads as ``T5EncoderModel``; any other encoder (MiniLM/BERT) as ``AutoModel``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fourm_4m21_common import hf
from fourm_registry.errors import FourmError

MAX_TOKENS = 77


class CaptionEmbeddingLabeler:
    """``labeler(captions)`` → one N×D float32 array per caption."""

    def __init__(self, family: str, model: str, device: str = "cpu", batch_size: int = 32,
                 max_tokens: int = MAX_TOKENS):
        import transformers

        model = hf.model_ref(model, f"{family} caption")
        cls = transformers.T5EncoderModel if family == "t5" else transformers.AutoModel
        self.net = hf.load(cls, model, device)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model)
        self.device, self.batch_size, self.max_tokens = device, batch_size, max_tokens

    def __call__(self, captions: Sequence[Any]) -> list[np.ndarray]:
        import torch

        texts = []
        for i, c in enumerate(captions):
            if not isinstance(c, str):
                raise FourmError(f"caption #{i}: caption-embedding labelers take caption strings, "
                                 f"got {type(c).__name__}")
            texts.append(c)
        out: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                 max_length=self.max_tokens, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self.net(input_ids=enc["input_ids"],
                                  attention_mask=enc["attention_mask"]).last_hidden_state.float()
            for h, m in zip(hidden.cpu().numpy(), enc["attention_mask"].bool().cpu().numpy()):
                out.append(np.ascontiguousarray(h[m][: self.max_tokens]))
        return out


def make_factory(family: str) -> Callable[[str, str], CaptionEmbeddingLabeler]:
    def factory(model: str, device: str = "cpu") -> CaptionEmbeddingLabeler:
        return CaptionEmbeddingLabeler(family, model, device)
    return factory


def mean_pooled(embedding: np.ndarray) -> np.ndarray:
    """The sentence embedding sentence-transformers gives for MiniLM: mean of tokens, unit norm."""
    v = np.asarray(embedding, np.float32).mean(0)
    return v / max(float(np.linalg.norm(v)), 1e-12)

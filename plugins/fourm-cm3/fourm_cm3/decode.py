"""Mixed-modal decoding: text until ``<break>``, an image grid with classifier-free guidance,
then text until ``[EOS]`` — every step through the KV cache (or, for checking, without it).

The guided image logits are ``u + s·(c − u)``: ``c`` from the sequence so far (the text in
view), ``u`` from an unconditional pass that drops the text (``[BOS] <break>`` + the image
tokens so far), ``s`` the guidance scale (1: no guidance). Each segment is restricted to its
modality's id range (plus the token that may end it), so a grid is always exactly its cells.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from fourm_registry import FourmError

from .vocab import BOS, BREAK, EOS


class Stream:
    """A growing token sequence and its next-token logits, cached or recomputed in full."""

    def __init__(self, model, ids: Sequence[int], use_cache: bool):
        self.model, self.ids = model, [int(t) for t in ids]
        self.cache = model.new_cache() if use_cache else None

    def next_logits(self) -> torch.Tensor:
        ids = torch.tensor([self.ids], dtype=torch.long, device=next(self.model.parameters()).device)
        return self.model.logits(ids, self.cache)[0, -1]

    def push(self, token: int) -> None:
        self.ids.append(int(token))


@dataclass
class MixedOutput:
    ids: list[int]  # the whole unified sequence, [BOS] … [EOS]
    segments: list[tuple[str, list[int]]] = field(default_factory=list)  # (modality, local ids) in order


def _pick(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, gen: torch.Generator | None) -> int:
    masked = logits.masked_fill(~allowed, float("-inf"))
    if temperature <= 0:
        return int(masked.argmax())
    probs = torch.softmax(masked / temperature, -1)
    return int(torch.multinomial(probs, 1, generator=gen))


def _allowed(size: int, span: tuple[int, int], extra: Sequence[int], device) -> torch.Tensor:
    mask = torch.zeros(size, dtype=torch.bool, device=device)
    mask[span[0]:span[1]] = True
    mask[list(extra)] = True
    return mask


@torch.no_grad()
def generate_mixed(model, prompt: Sequence[int], text: str, image: str, *, cfg_scale: float = 3.0,
                   after: str | None = None, temperature: float = 0.0, seed: int = 0,
                   use_cache: bool = True) -> MixedOutput:
    """Continue ``prompt`` (local ids of ``text``): text → ``<break>`` → ``image`` grid → ``<break>`` → text → ``[EOS]``."""
    model.eval()
    layout = model.layout
    for name in (text, image, after or text):
        if name not in layout.segments:
            raise FourmError(f"CM3 decoding: {name!r} is not in the model's vocabulary {layout.names}.")
    if layout.segments[image].sequence or not layout.segments[text].sequence:
        raise FourmError(f"CM3 decoding: {text!r} must be a sequence modality and {image!r} a grid.")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed) if temperature > 0 else None
    cond = Stream(model, [BOS, *layout.unified(text, list(prompt))], use_cache)
    out = MixedOutput([])
    budget = model.max_len

    def text_segment(name: str, stop: int, start: int) -> None:
        """Tokens from ``start`` on (the prompt's included) are this segment; generate until ``stop``."""
        allowed = _allowed(layout.size, layout.span(name), [stop], device)
        while len(cond.ids) - start < layout.segments[name].num_tokens and len(cond.ids) < budget - 1:
            token = _pick(cond.next_logits(), allowed, temperature, gen)
            cond.push(token)
            if token == stop:
                break
        if cond.ids[-1] != stop:
            cond.push(stop)
        body = [t for t in cond.ids[start:] if t != stop]
        out.segments.append((name, [int(t) for t in layout.local(name, body)]))

    text_segment(text, BREAK, 1)
    uncond = Stream(model, [BOS, BREAK], use_cache)
    allowed = _allowed(layout.size, layout.span(image), [], device)
    cells = []
    for _ in range(layout.segments[image].num_tokens):
        c = cond.next_logits()
        if cfg_scale == 1.0:
            logits = c
        else:
            u = uncond.next_logits()
            logits = u + cfg_scale * (c - u)
        token = _pick(logits, allowed, temperature, gen)
        cond.push(token)
        uncond.push(token)
        cells.append(token)
    out.segments.append((image, [int(t) for t in layout.local(image, cells)]))
    cond.push(BREAK)
    text_segment(after or text, EOS, len(cond.ids))
    out.ids = cond.ids
    return out

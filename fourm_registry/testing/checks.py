"""The conformance checks, one property each, and the pytest mixin that runs them."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..registry import Registry
from ..spec import ModalityKind, ModalitySpec
from .values import (LOSSY_EXTENSIONS, TINY_MODEL, TOLERANCE_KEY, ConformanceSkip, _values, distance,
                     prepared, small_tokenizer)


# -- checks ----------------------------------------------------------------------------------
def check_declaration(registry: Registry, name: str) -> None:
    """The spec re-validates, its loss and labelers resolve, its budgets fit its tokens."""
    spec = registry.get_modality(name)
    again = ModalitySpec.model_validate(dict(spec))
    assert again.num_tokens == spec.num_tokens > 0, f"{name}: num_tokens must be positive"
    assert spec.loss in registry.objectives, f"{name}: loss {spec.loss!r} is not registered"
    for lab in registry.labelers_for(name):
        assert callable(lab.factory), f"{name}: labeler {lab.name!r} has no factory"
    if spec.kind is ModalityKind.SEQUENCE:
        assert callable(spec.to_text) and callable(spec.from_text), f"{name}: needs to_text/from_text"
    if spec.kind is ModalityKind.EMBEDDING:
        from ..model.embeddings import feature_size

        assert feature_size(spec) > 0, f"{name}: embedding_dim must be positive"
    m = spec.masking
    assert m.min_tokens <= (m.max_tokens or spec.num_tokens), f"{name}: min_tokens > max_tokens"
    assert spec.codec.extension, f"{name}: codec needs a file extension"


def check_codec(registry: Registry, name: str, values: Sequence[Any] | None = None) -> None:
    """``decode(encode(v))`` gives ``v`` back (or close, for lossy image codecs); bytes out."""
    spec, values = _values(registry, name, values)
    for i, v in enumerate(values):
        data = spec.codec.encode(v)
        assert isinstance(data, bytes | bytearray), f"{name}: codec.encode gave {type(data).__name__}"
        back = spec.codec.decode(bytes(data))
        d = distance(spec, v, back)
        if spec.codec.extension in LOSSY_EXTENSIONS:
            arr = np.asarray(v)
            assert np.asarray(back).shape == arr.shape, f"{name}: codec changed the shape of value #{i}"
            d = float(np.abs(np.asarray(back, np.float64) - arr).mean()) / max(float(np.ptp(arr)), 1.0)
            assert d <= 0.1, f"{name}: lossy codec moved value #{i} by {d:.3f} of its range"
        else:
            assert d <= 1e-9, f"{name}: codec round trip of value #{i} is off by {d}"


def check_tokenizer(registry: Registry, name: str, values: Sequence[Any] | None = None) -> None:
    """Token ids are integers inside the vocab, in the declared layout; decoding comes back
    within the plugin's declared tolerance; the tokenizer saves and loads back."""
    spec, values = _values(registry, name, values)
    tok = small_tokenizer(spec, values)
    tokens = tok.encode(values)
    assert len(tokens) == len(values), f"{name}: encode returned {len(tokens)} arrays for {len(values)} values"
    vocab = min(spec.tokenizer.vocab_size, tok.vocab_size)
    for i, t in enumerate(tokens):
        t = np.asarray(t)
        assert t.dtype.kind in "iu", f"{name}: tokens of value #{i} are {t.dtype}, not integers"
        assert t.size == 0 or (t.min() >= 0 and t.max() < vocab), \
            f"{name}: token ids of value #{i} leave the vocab [0, {vocab})"
        if spec.kind.is_grid:
            assert t.size == spec.num_tokens, f"{name}: value #{i} gave {t.shape} tokens, not {spec.tokenizer.grid}"
        else:
            assert t.ndim == 1 and t.size <= spec.num_tokens, f"{name}: value #{i} gave {t.shape} tokens"
    back = tok.decode(tokens)
    assert len(back) == len(values), f"{name}: decode returned {len(back)} values"
    tol = spec.extras.get(TOLERANCE_KEY)
    for i, (v, b) in enumerate(zip(values, back)):
        spec.codec.encode(b)  # a decoded value is a valid value
        if tol is not None:
            d = distance(spec, v, b)
            assert d <= tol, f"{name}: round trip of value #{i} is off by {d} > tolerance {tol}"


def check_masking(registry: Registry, name: str, draws: int = 20) -> None:
    """Encoder and decoder tokens stay within the declared budgets; grids never show a cell
    to both; sequences get sentinels and [EOS]; input-only kinds get no targets."""
    from ..masking import Masker, MaskingConfig
    from ..tokens import EOS_ID, is_sentinel

    spec = registry.get_modality(name)
    rng = np.random.default_rng(0)
    cap = spec.masking.max_tokens or spec.num_tokens
    for k in range(draws):
        budget = int(rng.integers(1, 2 * spec.num_tokens + 2))
        masker = Masker(MaskingConfig(input_tokens=budget, target_tokens=budget), [spec])
        m = masker(prepared(spec, rng), rng)[name]
        shown = int(np.asarray(m.input_mask).sum())
        if spec.input_only:
            assert m.targets is None, f"{name}: an input-only modality got targets"
            assert shown <= min(cap, len(m.inputs)), f"{name}: {shown} inputs exceed the budget"
        elif spec.kind is ModalityKind.SEQUENCE:
            assert len(m.inputs) + len(m.targets) <= 2 * spec.num_tokens + 2, f"{name}: sequence grew"
            ids = np.concatenate([m.inputs, m.targets])
            assert any(is_sentinel(int(t)) for t in ids) or EOS_ID in ids, f"{name}: no sentinel/EOS"
        else:
            both = np.asarray(m.input_mask) & np.asarray(m.target_mask)
            assert not both.any(), f"{name}: draw {k} shows cells to encoder and decoder"
            assert shown <= cap, f"{name}: {shown} encoder tokens > max_tokens {cap}"
            assert shown >= min(spec.masking.min_tokens, budget), f"{name}: fewer than min_tokens"
            assert int(np.asarray(m.target_mask).sum()) <= cap, f"{name}: too many targets"


def _partner(registry: Registry, spec: ModalitySpec) -> list[ModalitySpec]:
    """An input-only modality needs something to predict: the first predictable one."""
    if not spec.input_only:
        return [spec]
    other = next((s for n, s in sorted(registry.modalities.items()) if not s.input_only), None)
    if other is None:
        raise ConformanceSkip(f"{spec.name}: input-only and no predictable modality is registered")
    return [spec, other]


def check_model(registry: Registry, name: str, steps: int = 2) -> None:
    """Embeddings, heads and the loss run forward and backward in a tiny model; gradients
    reach this modality's embedding (and its head when it is predicted)."""
    import torch

    from ..data.collate import collate
    from ..masking import Masker, MaskingConfig
    from ..model import build_model

    spec = registry.get_modality(name)
    specs = _partner(registry, spec)
    torch.manual_seed(0)
    model = build_model(TINY_MODEL, registry, specs)
    rng = np.random.default_rng(0)
    total = sum(s.num_tokens for s in specs)
    masker = Masker(MaskingConfig(input_tokens=max(1, total // 2), target_tokens=max(1, total // 2)), specs)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(steps):
        samples = []
        for _ in range(2):
            prep = {}
            for s in specs:
                prep.update(prepared(s, rng))
            samples.append(masker(prep, rng))
        out = model(collate(samples))
        assert torch.isfinite(out.loss), f"{name}: loss is {out.loss}"
        opt.zero_grad()
        out.loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), f"{name}: non-finite gradients"
        opt.step()
    enc = [p.grad for p in model.encoder_embeddings[name].parameters() if p.grad is not None]
    assert any(g.abs().sum() > 0 for g in enc), f"{name}: no gradient reached its encoder embedding"
    if not spec.input_only:
        dec = [p.grad for p in model.decoder_embeddings[name].parameters() if p.grad is not None]
        assert any(g.abs().sum() > 0 for g in dec), f"{name}: no gradient reached its decoder head"


def check_draw(registry: Registry, name: str, values: Sequence[Any] | None = None) -> None:
    """The picture of each example renders as a non-empty RGB image."""
    from ..generation.pictures import draw_value

    spec = registry.get_modality(name)
    if spec.draw is None:
        raise ConformanceSkip(f"{name}: declares no draw (pictures show a placeholder)")
    for i, v in enumerate(_values(registry, name, values)[1]):
        img = draw_value(spec, v)
        assert img.mode == "RGB" and img.width > 0 and img.height > 0, f"{name}: picture #{i} is empty"


CHECKS: dict[str, Callable[[Registry, str], None]] = {
    "declaration": check_declaration, "codec": check_codec, "tokenizer": check_tokenizer,
    "masking": check_masking, "model": check_model, "draw": check_draw,
}


def check_modality(registry: Registry, name: str, checks: Iterable[str] = CHECKS) -> dict[str, str]:
    """Run the named checks; returns ``{check: "ok" | "skipped: <reason>"}`` (failures raise)."""
    report = {}
    for check in checks:
        try:
            CHECKS[check](registry, name)
            report[check] = "ok"
        except ConformanceSkip as exc:
            report[check] = f"skipped: {exc}"
    return report


class ModalityConformance:
    """pytest mixin: subclass with ``modalities = ("name", …)`` and, optionally, ``plugins``
    (objects registered explicitly) or ``allow`` (entry-point plugin names to load)."""

    modalities: tuple[str, ...] = ()
    plugins: tuple[Any, ...] = ()
    allow: tuple[str, ...] | None = None

    def conformance_registry(self) -> Registry:
        """Built once per test class."""
        cls = type(self)
        if "_conformance_registry" not in cls.__dict__:
            cls._conformance_registry = Registry.build(*self.plugins, allow=self.allow)
        return cls.__dict__["_conformance_registry"]

    def _run(self, check: str) -> None:
        import pytest

        registry = self.conformance_registry()
        assert self.modalities, f"{type(self).__name__} lists no modalities"
        skipped = []
        for name in self.modalities:
            try:
                CHECKS[check](registry, name)
            except ConformanceSkip as exc:
                skipped.append(str(exc))
        if len(skipped) == len(self.modalities):
            pytest.skip("; ".join(skipped))

    def test_declaration(self) -> None:
        self._run("declaration")

    def test_codec(self) -> None:
        self._run("codec")

    def test_tokenizer(self) -> None:
        self._run("tokenizer")

    def test_masking(self) -> None:
        self._run("masking")

    def test_model(self) -> None:
        self._run("model")

    def test_draw(self) -> None:
        self._run("draw")

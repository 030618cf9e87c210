"""Attentive probing of a frozen encoder (as in AIM/AIMv2): one learned query pools the (B, N, D)
features by cross-attention, a linear layer classifies the pooled vector.

Encoders: a run's export (any family: its ``load`` and ``encode_features``) or a transformers
vision model (``hf:PATH_OR_ID``: ``last_hidden_state``). Labels: a field of the samples, by dotted
path (``facts.colour``, ``scene.visible``); a list counts as its length. Features are computed
once (the encoder is frozen), then the probe trains on them.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import FourmError

FeatureFn = Callable[[Sequence[dict[str, Any]]], torch.Tensor]


class AttentiveProbe(nn.Module):
    def __init__(self, dim: int, num_classes: int, heads: int = 1):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.classifier = nn.Linear(dim, num_classes)
        nn.init.normal_(self.query, std=0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        kv = self.norm(features)
        pooled, _ = self.attn(self.query.expand(features.shape[0], -1, -1), kv, kv, need_weights=False)
        return self.classifier(pooled[:, 0])


def label_of(sample: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a sample; lists become their length (a count)."""
    value: Any = sample
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit():
            value = value[int(part)]
        else:
            raise FourmError(f"Sample {sample.get('__key__', '?')!r} has no label field {path!r} (missing {part!r}).")
    if isinstance(value, list | tuple):
        return len(value)
    if isinstance(value, dict | np.ndarray):
        raise FourmError(f"Label field {path!r} is not a scalar: give a path to a number or a string.")
    return value


def family_features(export: str | Path, registry: Any, device: str = "cpu") -> tuple[FeatureFn, str]:
    """Features of a run's export through the family that wrote it."""
    from .families.export import family_of_export

    family = family_of_export(export, registry)
    if family.load is None or family.encode_features is None:
        raise FourmError(f"Model family {family.name!r} offers no encode_features: it cannot be probed.")
    model = family.load(export, registry).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return (lambda samples: family.encode_features(model, samples)), family.name


def transformers_features(path: str, image_field: str, device: str = "cpu") -> tuple[FeatureFn, str]:
    """``last_hidden_state`` of a transformers vision model, images prepared by its image processor."""
    from transformers import AutoImageProcessor, AutoModel

    try:
        model = AutoModel.from_pretrained(path).to(device).eval()
        processor = AutoImageProcessor.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise FourmError(f"Could not load a transformers vision model and image processor from {path}: {exc}") from None

    def fn(samples: Sequence[dict[str, Any]]) -> torch.Tensor:
        images = [np.asarray(s[image_field], dtype=np.uint8) for s in samples]
        pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(device)
        return model(pixel_values=pixels).last_hidden_state

    return fn, f"transformers:{type(model).__name__}"


@torch.no_grad()
def extract(features: FeatureFn, samples: Iterable[dict[str, Any]], labels: Sequence[str], batch_size: int = 32,
            progress: Callable[[int], None] | None = None) -> tuple[torch.Tensor, dict[str, list[Any]]]:
    """(M, N, D) frozen features and, per label path, the raw label of every sample."""
    feats: list[torch.Tensor] = []
    values: dict[str, list[Any]] = {name: [] for name in labels}
    group: list[dict[str, Any]] = []

    def flush() -> None:
        if group:
            feats.append(features(group).float().cpu())
            if progress is not None:
                progress(len(group))
            group.clear()

    for sample in samples:
        for name in labels:
            values[name].append(label_of(sample, name))
        group.append(sample)
        if len(group) == batch_size:
            flush()
    flush()
    if not feats:
        raise FourmError("No samples to probe.")
    return torch.cat(feats), values


@dataclass
class ProbeResult:
    label: str
    encoder: str
    accuracy: float
    chance: float  # accuracy of always answering the most frequent training label
    train_accuracy: float
    classes: list[Any]
    n_train: int
    n_val: int
    epochs: int
    per_class: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def fit_probe(train_x: torch.Tensor, train_y: list[Any], val_x: torch.Tensor, val_y: list[Any], *,
              epochs: int = 30, lr: float = 1e-3, weight_decay: float = 0.05, batch_size: int = 64,
              seed: int = 0, heads: int = 1, label: str = "", encoder: str = "",
              on_epoch: Callable[[int, float], None] | None = None) -> ProbeResult:
    """Train an :class:`AttentiveProbe` on frozen features; accuracy on the held-out ones."""
    classes = sorted(set(train_y), key=str)
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted({str(v) for v in val_y if v not in index})
    if unseen:
        raise FourmError(f"Held-out labels {unseen[:5]} never occur in the training samples.")
    if len(classes) < 2:
        raise FourmError(f"Label {label!r} has a single value ({classes}) in the training samples: nothing to learn.")
    ty = torch.tensor([index[v] for v in train_y])
    # per-dimension standardisation from the training features (MAE's probes use a BatchNorm this way)
    mu, sd = train_x.mean((0, 1)), train_x.std((0, 1)) + 1e-6
    train_x, val_x = (train_x - mu) / sd, (val_x - mu) / sd
    vy = torch.tensor([index[v] for v in val_y])
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = AttentiveProbe(train_x.shape[-1], len(classes), heads)
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
    for epoch in range(epochs):
        probe.train()
        order = torch.randperm(len(ty), generator=gen)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(probe(train_x[idx]), ty[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if on_epoch is not None:
            on_epoch(epoch + 1, total / len(ty))
    probe.eval()
    with torch.no_grad():
        pred = probe(val_x).argmax(-1)
        train_pred = probe(train_x).argmax(-1)
    majority = int(torch.bincount(ty, minlength=len(classes)).argmax())
    per_class = {str(c): float((pred[vy == i] == i).float().mean()) for i, c in enumerate(classes) if (vy == i).any()}
    return ProbeResult(label=label, encoder=encoder, accuracy=float((pred == vy).float().mean()),
                       chance=float((vy == majority).float().mean()),
                       train_accuracy=float((train_pred == ty).float().mean()), classes=classes,
                       n_train=len(ty), n_val=len(vy), epochs=epochs, per_class=per_class)


def image_folder_samples(folder: str | Path, labels_file: str | Path, image_field: str) -> list[dict[str, Any]]:
    """A user's own labelled images: ``labels_file`` lines ``image<TAB>label`` (or a JSON object)."""
    from PIL import Image

    folder, labels_file = Path(folder), Path(labels_file)
    text = labels_file.read_text()
    if labels_file.suffix == ".json":
        pairs = list(json.loads(text).items())
    else:
        pairs = [tuple(line.split("\t", 1)) for line in text.splitlines() if line.strip()]
    samples = []
    for name, value in pairs:
        path = folder / name
        if not path.is_file():
            raise FourmError(f"{labels_file}: image {name!r} is not in {folder}.")
        img = np.asarray(Image.open(path).convert("RGB"))
        samples.append({"__key__": name, image_field: img, "label": str(value).strip()})
    return samples

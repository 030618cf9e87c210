"""Errors of predictions against exact ground truth, and the trivial baselines they must beat.

Every function takes lists of per-sample values as ``read_samples`` yields them, so the
report can score the model and a baseline with the same code.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def _resize_nearest(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of the first two axes (prediction and GT may differ in size)."""
    if arr.shape[:2] == shape:
        return arr
    rows = (np.arange(shape[0]) * arr.shape[0] / shape[0]).astype(int)
    cols = (np.arange(shape[1]) * arr.shape[1] / shape[1]).astype(int)
    return arr[rows][:, cols]


def depth_errors(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean absolute relative error and RMSE (metres) over valid (finite, > 0) GT pixels."""
    rel, sq = [], []
    for p, g in zip(preds, gts, strict=True):
        p = _resize_nearest(np.asarray(p, np.float64), g.shape)
        valid = np.isfinite(g) & (g > 0)
        rel.append(np.abs(p[valid] - g[valid]) / g[valid])
        sq.append((p[valid] - g[valid]) ** 2)
    return {"abs_rel": float(np.concatenate(rel).mean()), "rmse": float(np.sqrt(np.concatenate(sq).mean()))}


def normal_errors(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean angle (degrees) between predicted and true unit normals."""
    angles = []
    for p, g in zip(preds, gts, strict=True):
        p = _resize_nearest(np.asarray(p, np.float64), g.shape[:2])
        p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-8)
        valid = np.isfinite(g).all(-1) & (np.linalg.norm(g, axis=-1) > 0.5)
        cos = np.clip((p * g).sum(-1)[valid], -1, 1)
        angles.append(np.degrees(np.arccos(cos)))
    return {"mean_angle_deg": float(np.concatenate(angles).mean())}


def semseg_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> dict[str, float]:
    """Pixel accuracy and mean IoU over classes present in the ground truth."""
    inter: Counter = Counter()
    union: Counter = Counter()
    correct = total = 0
    for p, g in zip(preds, gts, strict=True):
        p = _resize_nearest(np.asarray(p), g.shape)
        correct += int((p == g).sum())
        total += g.size
        for c in np.unique(g):
            inter[c] += int(((p == c) & (g == c)).sum())
            union[c] += int(((p == c) | (g == c)).sum())
    ious = [inter[c] / union[c] for c in union if union[c]]
    return {"pixel_acc": correct / max(total, 1), "miou": float(np.mean(ious)) if ious else 0.0}


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def box_scores(preds: Sequence[Any], gts: Sequence[Any], iou: float = 0.5) -> dict[str, float]:
    """Greedy matching of same-label boxes at IoU ≥ ``iou``: precision, recall, F1."""
    tp = n_pred = n_gt = 0
    for p, g in zip(preds, gts, strict=True):
        n_pred += len(p)
        n_gt += len(g)
        used: set[int] = set()
        for inst in p:
            best, best_j = 0.0, -1
            for j, ref in enumerate(g):
                if j in used or ref["label"] != inst["label"]:
                    continue
                score = _iou(inst["box"], ref["box"])
                if score > best:
                    best, best_j = score, j
            if best >= iou:
                used.add(best_j)
                tp += 1
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt if n_gt else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def caption_scores(preds: Sequence[str], gts: Sequence[str]) -> dict[str, float]:
    """Bag-of-words F1 between generated and true captions (lower-cased word multisets)."""
    f1s = []
    for p, g in zip(preds, gts, strict=True):
        pc, gc = Counter(p.lower().split()), Counter(g.lower().split())
        overlap = sum((pc & gc).values())
        if not overlap:
            f1s.append(0.0)
            continue
        prec, rec = overlap / sum(pc.values()), overlap / sum(gc.values())
        f1s.append(2 * prec * rec / (prec + rec))
    return {"word_f1": float(np.mean(f1s)) if f1s else 0.0}


def rgb_errors(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean absolute pixel error on a 0–255 scale."""
    errs = [np.abs(_resize_nearest(np.asarray(p, np.float64), g.shape[:2]) - g).mean()
            for p, g in zip(preds, gts, strict=True)]
    return {"mae": float(np.mean(errs))}


# -- trivial baselines, fitted on training values ---------------------------------
def mean_depth_baseline(train: Sequence[np.ndarray]) -> float:
    return float(np.mean([d[np.isfinite(d) & (d > 0)].mean() for d in train]))


def mean_normal_baseline(train: Sequence[np.ndarray]) -> np.ndarray:
    mean = np.mean([n.reshape(-1, 3).mean(0) for n in train], axis=0)
    return mean / max(np.linalg.norm(mean), 1e-8)


def majority_class_baseline(train: Sequence[np.ndarray]) -> int:
    counts: Counter = Counter()
    for s in train:
        vals, cnt = np.unique(s, return_counts=True)
        counts.update(dict(zip(vals.tolist(), cnt.tolist())))
    return int(counts.most_common(1)[0][0])


def frequent_words_baseline(train: Sequence[str], length: int | None = None) -> str:
    """The most frequent words, as many as a median caption has."""
    words = Counter(w for c in train for w in c.lower().split())
    n = length or int(np.median([len(c.split()) for c in train]))
    return " ".join(w for w, _ in words.most_common(n))


def mean_box_baseline(train: Sequence[Any]) -> list[dict[str, Any]]:
    """One box: the mean box (in relative coords, rescaled later) with the most frequent label."""
    boxes, labels = [], Counter()
    for dets in train:
        w, h = dets.image_size if getattr(dets, "image_size", None) else (1, 1)
        for inst in dets:
            x0, y0, x1, y1 = inst["box"]
            boxes.append([x0 / w, y0 / h, x1 / w, y1 / h])
            labels[inst["label"]] += 1
    if not boxes:
        return []
    return [{"box": np.mean(boxes, axis=0).tolist(), "label": labels.most_common(1)[0][0], "score": 1.0}]

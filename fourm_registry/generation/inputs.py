"""Reading ``fourm generate`` conditions: files, literal text, token arrays, in-painting masks.

``--cond NAME=VALUE``: a file decoded by the modality's codec (image codecs read any image
PIL opens), or literal text for sequence modalities. ``--cond tok_NAME=ids.npy``: token ids
(grid: h×w or flat; negative ids are cells to generate). ``--mask NAME=SPEC`` marks grid
cells to generate: ``box:x0,y0,x1,y1`` (fractions of the image; inside), ``outside:x0,y0,x1,y1``
(out-painting) or a mask image (white = generate). Everything is read and checked here,
before any model runs; tokenising happens later in :func:`tokenize_conditions`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..batch import ModalityBatch
from ..errors import FourmError
from ..registry import Registry
from ..spec import ModalityKind, ModalitySpec
from ..tokens import EOS_ID, PAD_ID
from .guidance import modality_of

IMAGE_EXTENSIONS = {"png", "jpg", "jpeg"}  # codecs that decode any image PIL can open
PIL_EXTENSIONS = IMAGE_EXTENSIONS | {"bmp", "webp", "tif", "tiff", "gif"}
TOKEN_PREFIX = "tok_"


@dataclass
class Condition:
    """One condition: a raw value or token ids, plus the grid cells left to generate."""

    key: str  # modality, or modality@tag for guidance-only values
    spec: ModalitySpec
    value: Any = None  # raw value (as the codec decodes it)
    tokens: np.ndarray | None = None  # given ids (grid: flat N; sequence: 1-D content ids)
    generate: np.ndarray | None = None  # grid: flat N bool, True = cell to generate
    source: str = ""

    @property
    def unknown(self) -> int:
        return int(self.generate.sum()) if self.generate is not None else 0


def split_assignment(text: str, option: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise FourmError(f"{option} {text!r} must look like NAME=VALUE.")
    return key.strip(), value


def center_square(value: Any) -> Any:
    """Crop an H×W(×C) array to its central square (the model's grids are square)."""
    if not isinstance(value, np.ndarray) or value.ndim < 2 or value.shape[0] == value.shape[1]:
        return value
    h, w = value.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return value[top:top + s, left:left + s]


def _read_value(spec: ModalitySpec, raw: str, key: str) -> tuple[Any, str]:
    path = Path(raw)
    ext = spec.codec.extension
    suffix = path.suffix.lower().lstrip(".")
    if path.is_file():
        fits = suffix == ext or (ext in IMAGE_EXTENSIONS and suffix in PIL_EXTENSIONS)
        if not fits:
            raise FourmError(f"Condition {key!r}: {path} is a .{suffix} file but modality "
                             f"{spec.name!r} reads .{ext} files.")
        try:
            value = spec.codec.decode(path.read_bytes())
        except Exception as exc:
            raise FourmError(f"Condition {key!r}: cannot read {path}: {type(exc).__name__}: {exc}") from exc
        return (center_square(value) if spec.kind.is_grid else value), str(path)
    if spec.kind.is_grid or suffix in IMAGE_EXTENSIONS | {ext, "npy", "json"}:
        raise FourmError(f"Condition {key!r}: file {raw!r} does not exist.")
    try:
        return spec.from_text(raw), "text"  # type: ignore[misc]
    except Exception as exc:
        raise FourmError(f"Condition {key!r}: cannot parse {raw!r}: {exc}") from exc


def _read_tokens(spec: ModalitySpec, raw: str, key: str) -> tuple[np.ndarray, np.ndarray | None]:
    path = Path(raw)
    if not path.is_file():
        raise FourmError(f"Condition {key!r}: token file {raw!r} does not exist.")
    try:
        ids = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise FourmError(f"Condition {key!r}: cannot read {path} as .npy: {exc}") from exc
    if not np.issubdtype(ids.dtype, np.integer):
        raise FourmError(f"Condition {key!r}: {path} holds {ids.dtype}, not integer token ids.")
    vocab = spec.tokenizer.vocab_size
    if ids.size and ids.max() >= vocab:
        raise FourmError(f"Condition {key!r}: token id {int(ids.max())} ≥ vocab_size {vocab}.")
    if spec.kind.is_grid:
        if ids.size != spec.num_tokens:
            raise FourmError(f"Condition {key!r}: {path} has {ids.size} ids; {spec.name!r} has "
                             f"{spec.num_tokens} ({spec.tokenizer.grid[0]}×{spec.tokenizer.grid[1]}).")
        flat = ids.reshape(-1).astype(np.int64)
        return flat.clip(min=0), flat < 0
    flat = ids.reshape(-1).astype(np.int64)
    if flat.size and flat.min() < 0:
        raise FourmError(f"Condition {key!r}: sequence ids must be ≥ 0.")
    ends = np.flatnonzero(flat == EOS_ID)
    flat = flat[: ends[0]] if ends.size else flat  # content only: [EOS] is added back later
    return flat[flat != PAD_ID], None


def _grid_mask(spec: ModalitySpec, raw: str, key: str) -> np.ndarray:
    h, w = spec.tokenizer.grid  # type: ignore[misc]
    kind, _, rest = raw.partition(":")
    if kind in ("box", "outside"):
        try:
            x0, y0, x1, y1 = (float(v) for v in rest.split(","))
        except ValueError:
            raise FourmError(f"--mask {key}={raw!r}: expected {kind}:x0,y0,x1,y1 fractions.") from None
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise FourmError(f"--mask {key}={raw!r}: need 0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1.")
        cy, cx = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
        inside = ((cy[:, None] >= y0) & (cy[:, None] < y1)) & ((cx[None] >= x0) & (cx[None] < x1))
        mask = inside if kind == "box" else ~inside
    else:
        from PIL import Image

        path = Path(raw)
        if not path.is_file():
            raise FourmError(f"--mask {key}: {raw!r} is neither box:…, outside:… nor an existing image.")
        try:
            with Image.open(path) as img:
                small = img.convert("L").resize((w, h), Image.BILINEAR)
        except Exception as exc:
            raise FourmError(f"--mask {key}: cannot read {path}: {exc}") from exc
        mask = np.asarray(small, dtype=np.float32) > 127.5
    if not mask.any():
        raise FourmError(f"--mask {key}={raw!r} selects no token cell of the {h}×{w} grid.")
    return mask.reshape(-1)


def read_conditions(conds: list[str], masks: list[str], registry: Registry) -> dict[str, Condition]:
    """Parse and read every ``--cond`` and ``--mask``; unknown modalities raise with suggestions."""
    out: dict[str, Condition] = {}
    for text in conds:
        key, raw = split_assignment(text, "--cond")
        is_tok = key.startswith(TOKEN_PREFIX)
        key = key[len(TOKEN_PREFIX):] if is_tok else key
        spec = registry.get_modality(modality_of(key))
        if key in out:
            raise FourmError(f"Condition {key!r} is given twice.")
        if is_tok:
            tokens, gen = _read_tokens(spec, raw, key)
            out[key] = Condition(key, spec, tokens=tokens, generate=gen, source=raw)
        else:
            value, source = _read_value(spec, raw, key)
            out[key] = Condition(key, spec, value=value, source=source)
    for text in masks:
        key, raw = split_assignment(text, "--mask")
        if key not in out:
            raise FourmError(f"--mask {key}: give the modality with --cond {key}=… first.")
        cond = out[key]
        if not cond.spec.kind.is_grid:
            raise FourmError(f"--mask {key}: only grid modalities can be in-painted.")
        mask = _grid_mask(cond.spec, raw, key)
        cond.generate = mask if cond.generate is None else (cond.generate | mask)
    return out


def _resize_input(tokenizer: Any, spec: ModalitySpec, value: Any, key: str) -> list[np.ndarray]:
    """Tokenise one value at the tokenizer's training resolution (dense tokenizers expose
    ``prepare``/``adapter``; other tokenizers get the value as is)."""
    if not hasattr(tokenizer, "prepare"):
        return tokenizer.encode([value])
    x = torch.from_numpy(tokenizer.prepare(value, key))[None]
    size = tokenizer.adapter.input_size(spec)
    if tuple(x.shape[-2:]) != (size, size):
        mode = tokenizer.adapter.resize
        x = torch.nn.functional.interpolate(x, size=(size, size), mode=mode,
                                            **({"align_corners": False} if mode == "bilinear" else {}))
    return tokenizer.encode_prepared([x[0].numpy()])


def pixel_condition(spec: ModalitySpec, image: Any) -> ModalityBatch:
    """An image as a PIXELS condition: centre square, resized (bicubic) to the modality's size, then
    patched and standardised exactly as training reads it (``fourm_registry.data.prepare``)."""
    from PIL import Image

    from ..data.prepare import prepare_sample, source_field

    size = spec.tokenizer.image_size
    arr = center_square(np.asarray(image))
    if arr.shape[:2] != (size, size):
        arr = np.asarray(Image.fromarray(arr.astype(np.uint8)).resize((size, size), Image.BICUBIC))
    rows = prepare_sample({"__key__": "condition", source_field(spec): arr}, [spec])[spec.name]
    x = torch.from_numpy(rows)[None]
    return ModalityBatch(inputs=x, input_mask=torch.ones(x.shape[:2], dtype=torch.bool))


def tokenize_conditions(conds: dict[str, Condition], tokenizers: dict[str, Any],
                        predictor: Any) -> dict[str, ModalityBatch]:
    """Conditions → one-sample ``ModalityBatch``es (grids: hidden cells not visible)."""
    out: dict[str, ModalityBatch] = {}
    for key, c in conds.items():
        name = c.spec.name
        if c.spec.kind is ModalityKind.PIXELS and c.tokens is None:
            out[key] = pixel_condition(c.spec, c.value)
            continue
        if c.tokens is None:
            if name not in tokenizers:
                raise FourmError(f"Condition {key!r}: no tokenizer for {name!r} in the checkpoint; "
                                 f"give token ids with --cond tok_{key}=ids.npy.")
            try:
                ids = np.asarray(_resize_input(tokenizers[name], c.spec, c.value, key)[0]).reshape(-1)
            except FourmError:
                raise
            except Exception as exc:
                raise FourmError(f"Condition {key!r}: cannot tokenise the value: {exc}") from exc
        else:
            ids = c.tokens
        if c.spec.kind.is_grid:
            if ids.size != c.spec.num_tokens:
                raise FourmError(f"Condition {key!r}: the tokenizer gave {ids.size} tokens, the model "
                                 f"expects {c.spec.num_tokens}.")
            visible = np.ones(ids.size, dtype=bool) if c.generate is None else ~c.generate
            out[key] = ModalityBatch(inputs=torch.from_numpy(ids.astype(np.int64))[None],
                                     input_mask=torch.from_numpy(visible)[None])
        else:
            out[key] = predictor.sequence_input(name, [ids.tolist()], 1)
    return out

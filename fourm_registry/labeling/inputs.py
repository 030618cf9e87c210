"""Inputs of pseudo-labeling: img2dataset shards or a folder of images, decoded to RGB arrays.

Bad input never stops a run: unreadable images are skipped, grayscale/CMYK/alpha/palette
images are converted to RGB, and both are counted so the run can report them at the end.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import FourmError
from ..limits import DEFAULT_LIMITS, LimitError, check_image
from ..shards import ReadStats, expand_shards, iter_raw

IMAGE_SUFFIXES = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")
CAPTION_SUFFIXES = ("txt",)
META_SUFFIXES = ("json",)  # img2dataset's per-sample metadata: expected, not used


@dataclass
class RawItem:
    """One input sample before decoding: its key, encoded image, caption and junk count."""

    key: str
    image: bytes | None
    caption: str | None = None
    junk: list[str] = field(default_factory=list)  # members that are neither image, caption nor metadata
    fields: dict[str, bytes] = field(default_factory=dict)  # other ``<name>.<ext>`` members, kept as-is
    bad: str | None = None  # why the sample cannot be used (counted as a skip)


@dataclass
class SourceShard:
    """One unit of work: its items become one output shard named ``name``."""

    name: str
    items: Callable[[ReadStats], Iterator[RawItem]]
    size: int | None = None  # number of items when known up front (folders)


def load_image(data: bytes) -> tuple[np.ndarray, str | None]:
    """Encoded image → (H×W×3 uint8, what was converted or ``None``); ValueError if unreadable."""
    try:  # the size from the header first: no decompression bombs
        check_image(data, DEFAULT_LIMITS)
    except LimitError:
        raise
    except ValueError:
        pass  # unreadable: named below
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"unreadable image ({type(exc).__name__})") from exc


def _to_rgb(img: Image.Image) -> tuple[np.ndarray, str | None]:
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy(), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in img.info)
    if has_alpha:  # composite over white: transparent pixels become background, not black
        canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
        canvas.alpha_composite(img.convert("RGBA"))
        return np.asarray(canvas.convert("RGB"), dtype=np.uint8).copy(), "alpha"
    if mode in ("1", "L") or mode.startswith("I") or mode == "F":
        g8 = _gray_to_uint8(np.nan_to_num(np.asarray(img, dtype=np.float64)), mode)
        return np.repeat(g8[..., None], 3, axis=2), "grayscale"
    name = {"CMYK": "cmyk", "P": "palette"}.get(mode, mode.lower())
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy(), name


def _gray_to_uint8(gray: np.ndarray, mode: str) -> np.ndarray:
    """Single-channel values of any bit depth → 0..255."""
    if mode == "1":
        gray = gray * 255.0
    elif mode.startswith("I;16"):
        gray = gray / 257.0
    elif mode in ("I", "F"):
        hi = float(gray.max()) if gray.size else 0.0
        if mode == "F" and hi <= 1.0:
            gray = gray * 255.0
        elif hi > 255.0:
            gray = gray * (255.0 / hi)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


# -- img2dataset shards ------------------------------------------------------------------
def _tar_items(url: str, image_field: str | None,
               caption_field: str | None) -> Callable[[ReadStats], Iterator[RawItem]]:
    def items(stats: ReadStats) -> Iterator[RawItem]:
        for raw in iter_raw([url], stats):
            item = RawItem(key=str(raw["__key__"]), image=None)
            for suffix, data in raw.items():
                if suffix.startswith("__"):
                    continue
                low = suffix.lower()
                stem, _, ext = low.rpartition(".")
                if item.image is None and (low in IMAGE_SUFFIXES or (
                        stem and stem == image_field and ext in IMAGE_SUFFIXES)):
                    item.image = data
                elif item.caption is None and (low in CAPTION_SUFFIXES or (
                        stem and stem == caption_field and ext in CAPTION_SUFFIXES)):
                    try:
                        item.caption = data.decode("utf-8").strip() or None
                    except UnicodeDecodeError:
                        item.bad = "caption is not UTF-8 text"
                elif stem:  # a field of a fourm shard (e.g. ground truth): carried over
                    item.fields[suffix] = data
                elif low not in META_SUFFIXES:
                    item.junk.append(suffix)
            yield item

    return items


def tar_sources(spec: str | os.PathLike | Iterable[str], image_field: str | None = None,
                caption_field: str | None = None) -> list[SourceShard]:
    """img2dataset shards (brace patterns, globs, directories): one output shard per input tar.

    Images are ``<key>.jpg`` (or png, webp…) and captions ``<key>.txt``; fourm shards work
    too, with ``<key>.<image_field>.<ext>`` and ``<key>.<caption_field>.txt``, and their other
    fields are carried over to the output (except those being relabeled).
    """
    urls = expand_shards(spec)
    names: dict[str, str] = {}
    for url in urls:
        name = Path(url).name
        if name in names and names[name] != url:
            raise FourmError(f"Two input shards share the name {name!r} ({names[name]} and {url}); "
                             "output shards mirror input names, so label them into separate --out dirs.")
        names[name] = url
    return [SourceShard(name=Path(url).name, items=_tar_items(url, image_field, caption_field))
            for url in urls]


# -- a folder of images ------------------------------------------------------------------
def read_captions(path: str | os.PathLike) -> dict[str, str]:
    """A captions file: a JSON object ``{image name: caption}`` or lines ``name<TAB>caption``."""
    p = Path(path)
    if not p.is_file():
        raise FourmError(f"Captions file not found: {p}")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        obj = json.loads(text)
        if not isinstance(obj, dict):
            raise FourmError(f"{p}: a JSON captions file must be an object {{image name: caption}}")
        return {str(k): str(v) for k, v in obj.items()}
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise FourmError(f"{p}, line {n}: expected 'image name<TAB>caption'")
        name, caption = line.split("\t", 1)
        out[name.strip()] = caption.strip()
    return out


def _folder_key(rel: Path) -> str:
    return rel.with_suffix("").as_posix().replace("/", "_").replace(".", "_")


def folder_sources(folder: str | os.PathLike, per_shard: int = 1000,
                   captions: str | os.PathLike | None = None) -> list[SourceShard]:
    """Images under ``folder`` (recursively, sorted) in chunks of ``per_shard``, named
    ``000000.tar``…; captions from ``captions`` or a ``<image stem>.txt`` beside each image."""
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and p.suffix.lower().lstrip(".") in IMAGE_SUFFIXES)
    if not files:
        raise FourmError(f"No images ({', '.join(IMAGE_SUFFIXES)}) found under {root}")
    table = read_captions(captions) if captions is not None else {}

    def caption_for(path: Path) -> str | None:
        rel = path.relative_to(root)
        for name in (rel.as_posix(), path.name, path.stem):
            if name in table:
                return table[name].strip() or None
        side = path.with_suffix(".txt")
        if side.is_file():
            return side.read_text(encoding="utf-8", errors="replace").strip() or None
        return None

    def chunk_items(chunk: list[Path]) -> Callable[[ReadStats], Iterator[RawItem]]:
        def items(stats: ReadStats) -> Iterator[RawItem]:
            for path in chunk:
                try:
                    data = path.read_bytes()
                except OSError:
                    data = None
                yield RawItem(key=_folder_key(path.relative_to(root)), image=data,
                              caption=caption_for(path))

        return items

    per_shard = max(1, int(per_shard))
    chunks = [files[i:i + per_shard] for i in range(0, len(files), per_shard)]
    return [SourceShard(name=f"{j:06d}.tar", items=chunk_items(c), size=len(c))
            for j, c in enumerate(chunks)]


def open_sources(inputs: str | os.PathLike | Iterable[str], per_shard: int = 1000,
                 captions: str | os.PathLike | None = None, image_field: str | None = None,
                 caption_field: str | None = None) -> list[SourceShard]:
    """A folder holding images (and no tars) is read as a folder; anything else as shards."""
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if len(items) == 1 and Path(items[0]).is_dir() and not any(Path(items[0]).glob("*.tar")):
        return folder_sources(items[0], per_shard=per_shard, captions=captions)
    if captions is not None:
        raise FourmError("--captions applies to a folder of images; shards carry their own .txt captions")
    return tar_sources(items, image_field=image_field, caption_field=caption_field)

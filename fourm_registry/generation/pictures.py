"""Pictures of modality values and side-by-side grids, from each plugin's ``draw``.

A plugin's ``draw(value)`` returns a PIL image. It may also accept a keyword ``background``
(a PIL image) to draw an overlay, e.g. boxes on a photo; the grid passes the picture of the
modality named in ``spec.extras["draw_background"]`` when one is available, else the first
grid-modality picture shown. A ``draw`` that accepts a keyword ``extras`` gets
``spec.extras`` — settings a run may override, such as the class names its data carries.
The core names no modality: which picture serves as background is the plugin's declaration.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw

from ..spec import ModalitySpec

BACKGROUND_KEY = "draw_background"
TITLE_HEIGHT = 16


def takes_keyword(fn: Any, name: str) -> bool:
    """Whether ``fn`` accepts the keyword ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def takes_background(fn: Any) -> bool:
    """Whether ``draw`` accepts a ``background`` keyword (or ``**kwargs``)."""
    return takes_keyword(fn, "background")


def placeholder(text: str, size: int = 224) -> Image.Image:
    """A grey card for modalities that declare no ``draw``."""
    img = Image.new("RGB", (size, size), (200, 200, 200))
    ImageDraw.Draw(img).text((4, 4), text, fill="black")
    return img


def draw_value(spec: ModalitySpec, value: Any, background: Image.Image | None = None) -> Image.Image:
    """``spec.draw(value)`` as an RGB image (with ``background`` and ``extras`` if it takes them)."""
    if spec.draw is None:
        return placeholder(f"{spec.name}: no picture")
    kwargs: dict[str, Any] = {}
    if background is not None and takes_background(spec.draw):
        kwargs["background"] = background
    if takes_keyword(spec.draw, "extras"):
        kwargs["extras"] = spec.extras
    img = spec.draw(value, **kwargs)
    if not isinstance(img, Image.Image):
        img = Image.fromarray(img)
    return img.convert("RGB")


def pick_background(spec: ModalitySpec, pictures: Mapping[str, Image.Image],
                    grid_names: Sequence[str]) -> Image.Image | None:
    """The declared background picture, else the first grid-modality picture, else None."""
    if not takes_background(spec.draw):
        return None
    wanted = spec.extras.get(BACKGROUND_KEY)
    if wanted in pictures:
        return pictures[wanted]
    return next((pictures[n] for n in grid_names if n in pictures), None)


def titled(img: Image.Image, title: str, height: int) -> Image.Image:
    """``img`` scaled to ``height`` (aspect kept) under a one-line title."""
    w = max(1, round(img.width * height / max(img.height, 1)))
    tile = Image.new("RGB", (w, height + TITLE_HEIGHT), "white")
    tile.paste(img.resize((w, height), Image.BILINEAR), (0, TITLE_HEIGHT))
    ImageDraw.Draw(tile).text((3, 2), title, fill="black")
    return tile


def make_grid(tiles: Sequence[tuple[str, Image.Image]], height: int = 224, gap: int = 4) -> Image.Image:
    """One row of titled pictures, side by side."""
    parts = [titled(img, title, height) for title, img in tiles]
    if not parts:
        return placeholder("nothing to show", height)
    width = sum(p.width for p in parts) + gap * (len(parts) - 1)
    grid = Image.new("RGB", (width, height + TITLE_HEIGHT), "white")
    x = 0
    for p in parts:
        grid.paste(p, (x, 0))
        x += p.width + gap
    return grid

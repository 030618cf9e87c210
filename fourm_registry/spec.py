"""The modality contract: everything the core needs to know about one modality.

A plugin describes a modality with a :class:`ModalitySpec`. The core never names a
modality; it reads these declarations and assembles tokenizers, embeddings,
masking, losses, shard codecs and pictures from them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import not_built

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ModalityKind(str, Enum):
    """How a modality is represented as tokens."""

    DENSE = "dense"  # image-like grid of discrete tokens (VQ-tokenised depth, normals, semseg…)
    FEATURE_MAP = "feature_map"  # dense feature map (CLIP, DINOv2) VQ-tokenised to a grid
    PIXELS = "pixels"  # raw pixel patches, linearly projected; input only
    SEQUENCE = "sequence"  # text-like token sequence (captions, boxes, palettes…)
    EMBEDDING = "embedding"  # precomputed embedding vectors, linearly projected; input only

    @property
    def is_grid(self) -> bool:
        return self in (ModalityKind.DENSE, ModalityKind.FEATURE_MAP, ModalityKind.PIXELS)

    @property
    def input_only(self) -> bool:
        return self in (ModalityKind.PIXELS, ModalityKind.EMBEDDING)


@runtime_checkable
class ModalityTokenizer(Protocol):
    """Turns raw modality values into integer token arrays and back."""

    vocab_size: int

    def encode(self, values: Sequence[Any]) -> list[Any]:
        """Raw values (as the codec decodes them) → one int token array per value."""

    def decode(self, tokens: Sequence[Any]) -> list[Any]:
        """Token arrays → raw values."""

    def save_pretrained(self, path: Any) -> None:
        """Write a directory that the tokenizer factory loads back."""


@runtime_checkable
class Labeler(Protocol):
    """A pseudo-labeler: RGB images (H×W×3 uint8 arrays) → raw values of one modality."""

    def __call__(self, images: Sequence[Any]) -> list[Any]: ...


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Codec(_Frozen):
    """How a raw value is stored in a webdataset sample (member ``<key>.<modality>.<extension>``)."""

    extension: str = Field(pattern=r"^[a-z0-9]+(\.[a-z0-9]+)*$")
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


class TokenizerSpec(_Frozen):
    """Token layout and the factory that builds (or loads) the tokenizer.

    ``factory(spec, path)`` returns a :class:`ModalityTokenizer`; ``path`` is a directory
    written by ``save_pretrained`` or ``None`` for a fresh, untrained tokenizer.
    Grid modalities give ``image_size``/``patch_size``; sequences give ``max_length``.
    Sequence modalities that share one vocabulary name it in ``shared`` (e.g. a text vocab).
    """

    vocab_size: int = Field(gt=0)
    image_size: int | None = Field(default=None, gt=0)
    patch_size: int | None = Field(default=None, gt=0)
    max_length: int | None = Field(default=None, gt=0)
    shared: str | None = None
    factory: Callable[[Any, Any], Any] | None = None

    @property
    def grid(self) -> tuple[int, int] | None:
        if self.image_size is None or self.patch_size is None:
            return None
        side = self.image_size // self.patch_size
        return (side, side)

    @model_validator(mode="after")
    def _sizes_fit(self) -> TokenizerSpec:
        if (self.image_size is None) != (self.patch_size is None):
            raise ValueError("image_size and patch_size must be given together")
        if self.image_size is not None and self.image_size % self.patch_size:  # type: ignore[operator]
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        return self


class MaskingSpec(_Frozen):
    """How tokens of this modality are sampled for the encoder and the decoder.

    ``uniform``: a random subset of grid tokens; ``span``: T5 span masking with sentinels.
    ``max_tokens`` of ``None`` means all of the modality's tokens.
    """

    rule: Literal["uniform", "span"]
    min_tokens: int = Field(default=0, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    alpha: float = Field(default=1.0, gt=0)


class LabelerSpec(_Frozen):
    """A pseudo-labeler: ``factory(model_id_or_path, device)`` returns a :class:`Labeler`.

    ``inputs`` says what ``fourm label`` calls it on: RGB images, the caption texts, or whole
    decoded samples (``"sample"``: dicts of every field, with the image also under
    ``__image__``), for modalities derived from other fields. ``reads`` names the modalities a
    sample labeler uses, so labelers of those run first in the same pass.
    """

    name: str = Field(pattern=_NAME.pattern)
    modality: str
    default_model: str | None = None
    factory: Callable[[Any, str], Any]
    description: str = ""
    inputs: Literal["image", "text", "sample"] = "image"
    reads: tuple[str, ...] = ()


class Objective(_Frozen):
    """A named loss: ``fn(logits B×N×V, targets B×N, mask B×N bool) -> scalar`` mean over masked tokens."""

    name: str = Field(pattern=_NAME.pattern)
    fn: Callable[..., Any]


EmbeddingFactory = Callable[[Any, int], Any]  # (spec, model dim) -> torch.nn.Module


class ModalitySpec(_Frozen):
    """One modality, as a plugin declares it."""

    name: str
    kind: ModalityKind
    description: str = ""
    value: str = Field(default="", description="What the raw value is, e.g. 'H×W float32 metres'.")
    tokenizer: TokenizerSpec
    masking: MaskingSpec
    codec: Codec
    labeler: LabelerSpec | None = None
    loss: str = "cross_entropy"
    encoder_embedding: EmbeddingFactory | None = None  # None: the core default for the kind
    decoder_embedding: EmbeddingFactory | None = None
    to_text: Callable[[Any], str] | None = None  # sequences: value → text for the tokenizer
    from_text: Callable[[str], Any] | None = None  # sequences: (generated) text → value
    draw: Callable[[Any], Any] | None = None  # value → PIL.Image for pictures and grids
    extras: dict[str, Any] = Field(default_factory=dict)  # plugin-specific settings
    # Names this modality answers to in apple/ml-4m checkpoints (``domains_in``/``domains_out``);
    # ``{image_size}`` is filled from the name, e.g. ``"tok_x@{image_size}"`` answers ``tok_x@448``.
    domains: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} must be lowercase letters, digits and '_', starting with a letter")
        if v.startswith("tok_"):
            raise ValueError("names starting with 'tok_' are reserved for token arrays in shards")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModalitySpec:
        tok = self.tokenizer
        if self.kind.is_grid and tok.grid is None:
            raise ValueError(f"{self.kind.value} modality needs tokenizer.image_size and patch_size")
        if self.kind is ModalityKind.SEQUENCE:
            if tok.max_length is None:
                raise ValueError("sequence modality needs tokenizer.max_length")
            if self.to_text is None or self.from_text is None:
                raise ValueError("sequence modality needs to_text and from_text")
            if self.masking.rule != "span":
                raise ValueError("sequence modality needs masking.rule='span'")
        elif self.masking.rule != "uniform":
            raise ValueError(f"{self.kind.value} modality needs masking.rule='uniform'")
        if self.masking.max_tokens is not None and self.masking.max_tokens > self.num_tokens:
            raise ValueError(f"masking.max_tokens {self.masking.max_tokens} > {self.num_tokens} tokens")
        if self.labeler is not None and self.labeler.modality != self.name:
            raise ValueError(f"labeler {self.labeler.name!r} is for {self.labeler.modality!r}")
        return self

    # -- derived facts -------------------------------------------------------------
    @property
    def num_tokens(self) -> int:
        """Tokens per sample: grid cells for grid kinds, ``max_length`` for sequences."""
        grid = self.tokenizer.grid
        if grid is not None:
            return grid[0] * grid[1]
        return self.tokenizer.max_length or 1

    @property
    def input_only(self) -> bool:
        return self.kind.input_only

    @property
    def token_key(self) -> str:
        """The shard member stem holding this modality's pre-computed token ids."""
        return f"tok_{self.name}"

    @property
    def has_tokenizer(self) -> bool:
        return self.tokenizer.factory is not None

    # -- behaviour -----------------------------------------------------------------
    def create_tokenizer(self, path: Any = None) -> ModalityTokenizer:
        """Build a fresh tokenizer (``path=None``) or load one saved with ``save_pretrained``."""
        if self.tokenizer.factory is None:
            raise not_built(self.name, "tokenizer", "tokenizers")
        return self.tokenizer.factory(self, path)

    def create_labeler(self, model: str | None = None, device: str = "cpu") -> Labeler:
        """Build this modality's default pseudo-labeler from a model id or local path."""
        if self.labeler is None:
            raise not_built(self.name, "pseudo-labeler", "labeling")
        return self.labeler.factory(model or self.labeler.default_model, device)

    def with_overrides(self, **changes: Any) -> ModalitySpec:
        """A re-validated copy with tokenizer/masking settings changed (from a user config).

        ``extras`` is merged key by key into the plugin's, so a run can add e.g. class names.
        """
        tok = {k: v for k, v in changes.items() if k in TokenizerSpec.model_fields}
        mask = {k: v for k, v in changes.items() if k in MaskingSpec.model_fields}
        rest = {k: v for k, v in changes.items() if k not in tok and k not in mask}
        if "extras" in rest:
            rest["extras"] = {**self.extras, **dict(rest["extras"] or {})}
        data = dict(self)
        data["tokenizer"] = TokenizerSpec(**{**dict(self.tokenizer), **tok})
        data["masking"] = MaskingSpec(**{**dict(self.masking), **mask})
        data.update(rest)
        return ModalitySpec(**data)

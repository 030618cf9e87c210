"""The model-family contract: what the trainer, the generator and the probe need from a family.

A family is a model architecture plus its objective (4M's masked any-to-any encoder-decoder,
AIMv2's prefix-causal ViT with an autoregressive decoder, …). Plugins register families with
the ``register_families`` hook, as they register modalities; the core reads the spec and never
names a family itself.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..spec import ModalitySpec

# (model config, registry, selected modality specs) -> torch.nn.Module whose forward(batch)
# returns an object with ``loss`` (scalar) and ``losses`` (name -> scalar)
Builder = Callable[[Any, Any, list[ModalitySpec]], Any]
# (train config, registry, specs, model config) -> a training.state.DataFactory
DataBuilder = Callable[[Any, Any, list[ModalitySpec], Any], Any]
# (module, images: B×H×W×3 uint8 or B×3×H×W float in [0, 1]) -> B×N×D float features
FeatureFn = Callable[[Any, Any], Any]


class ModelFamilySpec(BaseModel):
    """One model family, as a plugin declares it.

    ``config`` is the pydantic model of the run config's ``model`` section (without the
    ``family`` key). ``build`` makes a fresh model from the registered modalities, ``data``
    the run's loaders (``None``: the core's masked token pipeline), ``check`` validates the
    run's modality selection against the model config before anything is built. ``load`` reads an exported directory
    (``save_pretrained`` of the built module), ``encode_features`` gives (B, N, D) features
    of images for probing, ``generator`` wraps a loaded model for ``fourm generate`` (``None``:
    the family cannot generate). ``fuse`` joins two trained parents for ``fourm merge --method
    cross`` (``None``: the family cannot be cross-merged). ``exports`` are the other layouts an export converts to
    (e.g. ``transformers``). ``default`` marks the family used when ``model`` names none
    (the built-in one; exactly one family may be the default).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    description: str = ""
    config: type[BaseModel]
    build: Builder
    data: DataBuilder | None = None
    check: Callable[[Any, list[ModalitySpec], Any], None] | None = None  # (modalities section, specs, model cfg)
    load: Callable[[Any, Any], Any] | None = None  # (directory, registry) -> module
    encode_features: FeatureFn | None = None
    generator: Callable[[Any], Any] | None = None
    # ``fourm convert --to TARGET``: target name -> writer(loaded model, out directory) -> written directory
    exports: dict[str, Callable[[Any, Any], Any]] = Field(default_factory=dict)
    # ``fourm merge --method cross``: (model A, model B, every, (w_A, w_B)) -> the fused model, covering
    # both parents' modalities; its trunks are submodules ``a`` and ``b`` (copies of the parents), its
    # fused head ``head``
    fuse: Callable[[Any, Any, int, tuple[float, float]], Any] | None = None
    default: bool = False

    def validate_model(self, data: dict[str, Any], source: str = "model") -> BaseModel:
        """The family's model config from a ``model`` section (errors name the field: ``model.dim``)."""
        from ..config import ConfigError

        try:
            return self.config.model_validate(dict(data))
        except ValidationError as exc:
            fields = "; ".join(f"field '{'.'.join(str(p) for p in (source, *e['loc']))}': {e['msg']}"
                               for e in exc.errors())
            raise ConfigError(f"Invalid model section for family {self.name!r}: {fields}") from None

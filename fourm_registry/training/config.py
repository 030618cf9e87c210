"""``fourm train`` config: one YAML file, validated by pydantic, overridable with ``--set``.

Sections: ``modalities`` (inputs/targets + per-modality settings), ``model`` (a size
preset or custom), ``masking`` (the input/target mixture), ``data`` (train and held-out
shards), ``optim`` (4M's AdamW recipe, schedule in tokens seen), ``deepspeed`` (engine
settings), ``train``, ``checkpoint``, ``logging``, ``eval``. Token counts accept
``500M``/``10B``/``5e6`` forms. A token is one encoder input or decoder target token.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from ..config import ModalityOverride, StrictModel
from ..data import DataConfig
from ..families import FamilyModel
from ..masking import MaskingConfig
from ..model import FourMConfig

_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}


def parse_count(value: Any) -> Any:
    """``"500M"`` → 500_000_000; numbers pass through (pydantic checks them)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbgt]?)\s*", value.lower())
        if not m:
            raise ValueError(f"{value!r} is not a count (examples: 250000, 5e6, 500M, 10B)")
        return int(round(float(m.group(1)) * _SUFFIX[m.group(2)]))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ModalitiesSection(StrictModel):
    """Which modalities the model reads (``inputs``) and predicts (``targets``)."""

    inputs: list[str] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    settings: dict[str, ModalityOverride] = Field(default_factory=dict)
    tokenizer_dir: str | None = None  # holds <modality>/ trained tokenizer directories
    allow_tokenizer_mismatch: bool = False  # train on tokens whose tokenizer fingerprint differs

    @field_validator("settings", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _settings_for_selected(self) -> ModalitiesSection:
        unknown = sorted(set(self.settings) - set(self.all))
        if unknown:
            raise ValueError(f"settings given for modalities that are neither inputs nor targets: {unknown}")
        return self

    @property
    def all(self) -> list[str]:
        """Inputs then targets, each once, in config order."""
        return list(dict.fromkeys([*self.inputs, *self.targets]))


class DataSection(DataConfig):
    """The data pipeline's settings for training, plus the held-out shards."""

    val_shards: str | list[str] | None = None
    val_segment_batches: int = Field(default=10_000, ge=1)

    def train_config(self) -> DataConfig:
        return DataConfig(**self.model_dump(exclude={"val_shards", "val_segment_batches"}))

    def held_out_config(self) -> DataConfig | None:
        if self.val_shards is None:
            return None
        base = self.model_dump(exclude={"val_shards", "val_segment_batches"})
        base.update(shards=self.val_shards, resampled=True, shuffle_buffer=0, shuffle_initial=0,
                    repeat=1, repeat_buffer=1, num_workers=0, segment_batches=self.val_segment_batches)
        return DataConfig(**base)


class OptimSection(StrictModel):
    """AdamW as 4M trains it; the schedule runs on tokens seen, not steps."""

    lr: float | None = Field(default=None, gt=0)  # absolute peak lr; None: base_lr × batch/base_batch
    base_lr: float = Field(default=1e-4, gt=0)
    base_batch: int = Field(default=256, gt=0)
    min_lr: float = Field(default=0.0, ge=0)  # cosine floor, scaled like base_lr unless lr is set
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    warmup_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(gt=0)

    @field_validator("warmup_tokens", "total_tokens", mode="before")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        return parse_count(value)

    @field_validator("betas")
    @classmethod
    def _betas(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in value):
            raise ValueError("betas must lie in [0, 1)")
        return value

    @model_validator(mode="after")
    def _warmup_fits(self) -> OptimSection:
        if self.warmup_tokens >= self.total_tokens:
            raise ValueError(f"warmup_tokens ({self.warmup_tokens}) must be below total_tokens "
                             f"({self.total_tokens})")
        return self


class DeepSpeedSection(StrictModel):
    """Engine settings (see ``deepspeed_config.py`` for how ``auto`` resolves)."""

    zero_stage: Literal["auto", 0, 1, 2, 3] = "auto"  # auto: 2, or 0 for a single fp32 rank
    bf16: Literal["auto", "on", "off"] = "auto"
    autocast: Literal["off", "bf16", "auto"] = "off"  # bf16 matmuls, fp32 weights; auto: where the CPU has native bf16
    gradient_clipping: float = Field(default=1.0, ge=0)  # 0 disables
    gradient_accumulation: int = Field(default=1, gt=0)
    activation_checkpointing: bool = False  # recompute transformer blocks in backward
    bucket_size: int = Field(default=500_000_000, gt=0)
    extra: dict[str, Any] = Field(default_factory=dict)  # raw DeepSpeed entries, merged last

    @model_validator(mode="after")
    def _one_precision(self) -> DeepSpeedSection:
        if self.autocast == "bf16" and self.bf16 == "on":
            raise ValueError("bf16: on (bf16 weights through ZeRO) and autocast: bf16 (fp32 weights, "
                             "bf16 matmuls) exclude each other; autocast turns bf16: auto off")
        return self


class TrainSection(StrictModel):
    batch_size: int = Field(default=8, gt=0)  # per rank and micro-step
    max_steps: int | None = Field(default=None, gt=0)  # stop early (the schedule still uses tokens)
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-identical resume on CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when available
    max_nonfinite_in_a_row: int = Field(default=10, gt=0)


class CheckpointSection(StrictModel):
    dir: str | None = None  # default: <out>/checkpoints
    every: int | None = Field(default=1000, gt=0)  # steps; None: only at the end
    keep_last: int | None = Field(default=3, gt=0)  # None keeps all
    resume: bool = True  # continue from the latest checkpoint in ``dir`` if there is one
    export_dir: str | None = None  # default: <out>/export (save_pretrained format)


class LoggingSection(StrictModel):
    dir: str | None = None  # default: <out>/logs (TensorBoard event files)
    every: int = Field(default=10, gt=0)
    tensorboard: bool = True
    wandb: bool = False  # needs the wandb package
    wandb_project: str = "fourm"
    progress: bool = True  # rich progress bar on rank 0


class EvalSection(StrictModel):
    every: int | None = Field(default=500, gt=0)  # steps; None: only at the end
    num_batches: int = Field(default=8, gt=0)
    batch_size: int | None = Field(default=None, gt=0)  # default: train.batch_size
    seed: int = 1234  # the same masks every evaluation, so curves are comparable
    at_start: bool = True  # evaluate before the first step (not after a resume)


class TrainConfig(StrictModel):
    modalities: ModalitiesSection
    # the built-in family's config, or ``{family: NAME, ...}`` (a FamilyModel, validated by that family)
    model: SerializeAsAny[FourMConfig] | None = None  # required unless ``init`` gives an exported model
    masking: MaskingConfig = Field(default_factory=MaskingConfig)
    data: DataSection
    optim: OptimSection
    deepspeed: DeepSpeedSection = Field(default_factory=DeepSpeedSection)
    train: TrainSection = Field(default_factory=TrainSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    out_dir: str = "runs/train"
    init: str | None = None  # exported model to start from (fine-tuning; new modalities fresh)

    @field_validator("model", mode="wrap")
    @classmethod
    def _family(cls, value: Any, handler: Any) -> Any:
        if isinstance(value, dict) and "family" in value:
            return FamilyModel.model_validate(value)
        return handler(value)

    @model_validator(mode="after")
    def _model_given(self) -> TrainConfig:
        if self.model is None and self.init is None:
            raise ValueError("give a model section (e.g. model: {preset: tiny}) or init: PATH")
        if getattr(self.model, "act_checkpoint", False) and self.deepspeed.activation_checkpointing:
            raise ValueError("set deepspeed.activation_checkpointing or model.act_checkpoint, not both")
        return self

    def paths(self) -> dict[str, Path]:
        out = Path(self.out_dir)
        return {
            "checkpoints": Path(self.checkpoint.dir) if self.checkpoint.dir else out / "checkpoints",
            "export": Path(self.checkpoint.export_dir) if self.checkpoint.export_dir else out / "export",
            "logs": Path(self.logging.dir) if self.logging.dir else out / "logs",
        }

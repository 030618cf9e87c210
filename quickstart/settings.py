"""How big the quickstart run is: the demo (16–33 min of stages on 2 cores with bf16, about 50 in fp32 on AVX2; README), and a ~3.5-minute version for the test suite."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from fourm_synth.generate import FloorSettings
from fourm_synth.scene import CLASSES
from fourm_registry.config import StrictModel
from fourm_registry.tokenizers.vqconfig import Loss

DENSE = ["rgb", "depth", "normal", "semseg"]
SEQUENCES = ["caption", "det"]
MIXTURE = {"all2all": 0.5, "rgb2all": 1.0, "caption2all": 1.0}
"""The demo's mixture weights (docs/demo-history.md, "Does the model read the caption?")."""


class VQOverride(StrictModel):
    """What one modality's quickstart tokenizer changes from its plugin's VQ-VAE defaults.

    Measured on the demo's data (docs/demo-history.md, "What each change bought"): L1+MSE gives normals a
    flat floor; without dead-code replacement a plain floor patch of semseg is a few codes,
    not 200, so the model has far fewer equivalent tokens to choose between."""

    loss: Loss | None = None
    replace_dead_codes: bool | None = None

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class QuickstartSettings(StrictModel):
    """Every size of the run; the defaults are the ``demo`` preset (16–50 min on 2 cores, by CPU kind: README)."""

    n_train: int = Field(default=3000, gt=0)
    n_val: int = Field(default=64, gt=0)
    size: int = Field(default=64, ge=16, description="image side in pixels")
    patch: int = Field(default=8, gt=0, description="pixels per token side")
    spp: int = Field(default=16, gt=0)
    floor: FloorSettings = Field(default_factory=FloorSettings, description="the synth floor: --set floor.tile=1 "
                                 "checkers it (docs: README, 'The same recipe on an AVX512-BF16 EPYC')")
    workers: int = Field(default=2, ge=1)
    dense_vocab: int = Field(default=256, gt=1)
    text_vocab: int = Field(default=4800, gt=4300, description="must hold the 4,204 special ids")
    vq_steps: int = Field(default=600, gt=0)
    vq_batch: int = Field(default=16, gt=0)
    vq_channels: list[int] = Field(default_factory=lambda: [16, 16, 32, 32])
    vq_norm_groups: int = Field(default=8, gt=0, description="must divide every vq_channels entry")
    vq_lr: float = Field(default=2e-3, gt=0)
    vq_workers: int = Field(default=2, ge=1, description="dense tokenizers trained side by side, in "
                            "processes of threads // vq_workers threads each")
    vq_overrides: dict[str, VQOverride] = Field(
        default_factory=lambda: {"normal": VQOverride(loss="l1_mse", replace_dead_codes=False),
                                 "semseg": VQOverride(replace_dead_codes=False)},
        description="per dense modality, VQ-VAE settings that differ from its plugin's (docs/demo-history.md, 'What each change bought')")
    dim: int = Field(default=192, gt=0)
    depth: int = Field(default=4, gt=0, description="encoder and decoder blocks each")
    heads: int = Field(default=4, gt=0)
    train_steps: int = Field(default=2600, gt=0)
    autocast: Literal["off", "bf16", "auto"] = Field(
        default="auto", description="bf16 matmuls (fp32 weights) in training the model and the VQ-VAEs, "
        "and in generation; auto: only on a CPU with AVX512-BF16 or AMX (elsewhere bf16 is emulated, 16x slower)")
    batch_size: int = Field(default=32, gt=0)
    lr: float = Field(default=1.5e-3, gt=0)
    mixture: dict[Literal["all2all", "rgb2all", "caption2all"], float] = Field(
        default_factory=lambda: dict(MIXTURE),
        description="weights of the masking mixture's components (0 drops one, an unnamed one keeps "
        "its default: --set mixture.all2all=1); caption2all at 0.5 "
        "against all2all 1 left the caption's tone word unread (docs/demo-history.md)")
    caption2all_targets: list[str] = Field(
        default_factory=lambda: ["rgb", "semseg"],
        description="what caption2all decodes from the caption alone (never the caption: it is all input "
        "there). The chain's two targets, not all five: 2.5x the caption → RGB signal per batch, and the "
        "model reads the caption's floor tone on every seed measured (README, 'Where the demo stands')")
    input_tokens: int = Field(default=64, gt=0)
    target_tokens: int = Field(default=64, gt=0)
    caption_length: int = Field(default=32, gt=0)
    det_length: int = Field(default=48, gt=0)
    eval_samples: int = Field(default=32, gt=0)
    picture_samples: int = Field(default=4, ge=0)
    dev_samples: int = Field(default=32, ge=0, description="held-out scenes after the scored ones, "
                             "on which each dense target's decoding is chosen")
    decode_samples: int = Field(default=8, ge=0, description="K of the sampled decodings (mean or "
                                "majority of K), beside greedy and code-mean; 0: greedy only")
    seed: int = Field(default=0, ge=0, description="seeds every stage: synth, tokenizers, train, generate")
    threads: int = Field(default=2, ge=1, description="torch threads in every stage; results are "
                         "bit-identical for the same seed, threads and CPU kind")

    @model_validator(mode="after")
    def _val_split(self) -> QuickstartSettings:
        if self.eval_samples + self.dev_samples > self.n_val:
            raise ValueError(f"eval_samples + dev_samples ({self.eval_samples} + {self.dev_samples}) "
                             f"exceed the {self.n_val} held-out scenes (n_val)")
        return self

    @field_validator("mixture")
    @classmethod
    def _some_component(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("mixture weights must be >= 0, and one of them > 0")
        return {**MIXTURE, **value}

    @field_validator("caption2all_targets")
    @classmethod
    def _caption_targets(cls, value: list[str]) -> list[str]:
        allowed = [m for m in DENSE + SEQUENCES if m != "caption"]
        unknown = sorted(set(value) - set(allowed))
        if unknown or not value:
            raise ValueError(f"caption2all_targets must name some of {allowed}, not {unknown or value}")
        return [m for m in allowed if m in value]

    @field_validator("vq_overrides")
    @classmethod
    def _dense_only(cls, value: dict[str, VQOverride]) -> dict[str, VQOverride]:
        unknown = sorted(set(value) - set(DENSE))
        if unknown:
            raise ValueError(f"vq_overrides names {unknown}; the dense modalities are {DENSE}")
        return value

    @classmethod
    def preset(cls, name: Literal["demo", "fast", "smoke"]) -> QuickstartSettings:
        if name == "demo":
            return cls()
        if name == "smoke":  # every stage, tiny: what the determinism test repeats (≈1 min)
            return cls(n_train=160, size=16, patch=4, spp=4, workers=1, dense_vocab=16,
                       vq_steps=30, vq_batch=8, vq_channels=[8, 8, 16], vq_norm_groups=8, dim=64, depth=1,
                       heads=2, train_steps=40, autocast="off", batch_size=16, input_tokens=32, target_tokens=32,
                       caption_length=28, det_length=32, eval_samples=8, picture_samples=1,
                       n_val=16, dev_samples=8, decode_samples=2)
        return cls(  # the test suite's version: every stage at 32 px, ~3.5 min on 2 cores
            n_train=1000, n_val=32, size=32, patch=4, spp=4, workers=1, dense_vocab=32,
            vq_steps=250, vq_batch=16, vq_channels=[16, 16, 32], vq_norm_groups=8, dim=128, depth=2,
            heads=4, train_steps=800, autocast="off", batch_size=32, lr=2e-3, input_tokens=64, target_tokens=64,
            caption_length=28, det_length=32, eval_samples=16, dev_samples=16, picture_samples=1,
        )

    @property
    def tokens_per_grid(self) -> int:
        return (self.size // self.patch) ** 2

    def modality_settings(self) -> dict[str, dict]:
        """Per-modality overrides of the plugins' defaults for this run's sizes."""
        grid = {"image_size": self.size, "patch_size": self.patch, "vocab_size": self.dense_vocab}
        classes = {"num_classes": len(CLASSES), "class_names": list(CLASSES)}  # the synth data's own
        return {**{m: dict(grid) for m in DENSE}, "semseg": {**grid, "extras": classes},
                "caption": {"max_length": self.caption_length, "vocab_size": self.text_vocab},
                "det": {"max_length": self.det_length, "vocab_size": self.text_vocab}}

    def generation_autocast(self) -> Any:
        """The autocast the report stage generates under: what training used on this CPU."""
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16_matmuls())

    def bf16_matmuls(self) -> bool:
        """What ``autocast`` resolves to on this CPU (training, tokenizers and generation alike)."""
        import torch

        from fourm_registry.training.deepspeed_config import resolve_autocast

        return resolve_autocast(self.autocast, torch.device("cpu"))

    def estimate_minutes(self) -> float:
        """Wall-clock estimate on 2 CPU cores (calibrated on this project's 2-core machine)."""
        pixels = (self.size / 64) ** 2
        synth = (self.n_train + self.n_val) * pixels * (self.spp / 16) ** 0.5 / 25
        bf16 = self.bf16_matmuls()
        # one VQ step 0.2 s at 2 threads; bf16 1.34x, two side by side at 1 thread 1.27x (measured)
        vq = len(DENSE) * self.vq_steps * self.vq_batch / 16 * pixels * 0.2 * (0.75 if bf16 else 1) \
            * (0.8 if self.vq_workers > 1 else 1)
        per_step = 0.45 if bf16 else 0.58  # demo: 1,168 s / 2,600, 1,164 s / 2,000
        train = self.train_steps * per_step * self.batch_size / 32 * (self.dim / 192) ** 2 * self.depth / 4
        scenes = (self.eval_samples + (self.dev_samples if self.decode_samples else 0)) / 64
        # grid passes per scene: 4 dense targets (the caption's two grids) × (1 + 2K), direct caption -> rgb 1 + K
        passes = 5 * (1 + 2 * self.decode_samples) + (1 + self.decode_samples if self.decode_samples else 0)
        report = 15 + 245 * scenes * passes / 85 * pixels * (0.67 if bf16 else 1)
        return round((synth + vq + train + report) / 60 + 1, 1)

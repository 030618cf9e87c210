"""``fourm generate`` end to end: check everything, then load, generate, decode and write.

Order matters for the promise "a clear message before any compute; nothing partially
written": the output directory, the checkpoint's modalities, the schedule, the targets and
every input file are checked first; only then are the tokenizers and the model loaded.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FourmError
from ..registry import Registry
from ..spec import TokenizerSpec
from .generator import Generator
from .inputs import Condition, read_conditions, tokenize_conditions
from .outputs import check_out_dir, staged_dir, write_results
from .plan import StepPlan, plan_generation
from .schedule import GenerationSchedule, load_schedule

TOKENIZERS_SUBDIR = "tokenizers"


@dataclass
class GenerateRequest:
    checkpoint: Path
    out: Path
    conds: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    schedule: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)  # step settings from CLI flags
    seed: int | None = 0
    samples: int = 1
    tokenizers: Path | None = None
    tokenizer_sources: dict[str, str] = field(default_factory=dict)  # --tokenizer MOD=DIR_OR_HUB_ID
    device: str = "cpu"
    use_cache: bool = True
    overwrite: bool = False


def read_checkpoint(path: Path, registry: Registry) -> tuple[Registry, list[str], list[str]]:
    """The registry with the checkpoint's sizes applied, and its input and target modalities."""
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise FourmError(f"--checkpoint {path}: no config.json (expected a save_pretrained directory).")
    try:
        config = json.loads(cfg_file.read_text())
        from ..interop.ml4m.checkpoint import (  # a released 4M model
            is_official_dir,
            official_layout,
        )

        if isinstance(config, dict) and is_official_dir(config):
            return official_layout(path, config, registry)
        records = config["modalities"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FourmError(f"--checkpoint {path}: config.json is not a fourm model config ({exc}).") from exc
    for name in records:
        registry.get_modality(name)
    keep = {*TokenizerSpec.model_fields, "extras"}  # the token layout it was built with, and extras
    registry = registry.with_overrides(
        {n: {f: v for f, v in r.items() if f in keep and v is not None} for n, r in records.items()})
    inputs = list(records)
    targets = [n for n in records if not registry.get_modality(n).input_only]
    return registry, inputs, targets


def build_schedule(req: GenerateRequest) -> GenerationSchedule:
    if req.schedule is None and not req.targets:
        raise FourmError("Name what to generate with --target (or give a --schedule).")
    sched = load_schedule(req.schedule) if req.schedule else GenerationSchedule.from_targets(req.targets)
    missing = [t for t in req.targets if t not in sched.targets]
    if missing:
        raise FourmError(f"--target {', '.join(missing)} has no step in --schedule "
                         f"({' -> '.join(sched.targets)}).")
    merged = {**sched.defaults, **{k: v for k, v in req.defaults.items() if v is not None}}
    return sched.model_copy(update={"defaults": merged})


def check_targets(plans: list[StepPlan], conds: dict[str, Condition]) -> None:
    """In-painting masks without a step to fill them are user mistakes."""
    stepped = {p.target for p in plans if not p.skipped}
    for key, c in conds.items():
        if c.unknown and key not in stepped:
            raise FourmError(f"Condition {key!r} has {c.unknown} cells to generate but no step "
                             f"targets it; add --target {key}.")


def generate_to_dir(req: GenerateRequest, registry: Registry,
                    log: Callable[[str], None] = lambda _m: None) -> list[Path]:
    """Run one ``fourm generate`` request; return the sample directories written."""
    check_out_dir(req.out, req.overwrite)
    if req.samples < 1:
        raise FourmError("--samples must be ≥ 1.")
    registry, inputs, targets = read_checkpoint(req.checkpoint, registry)
    schedule = build_schedule(req)
    for t in schedule.targets:
        registry.get_modality(t)
    conds = read_conditions(req.conds, req.masks, registry)
    plans = plan_generation(schedule, registry, inputs, targets,
                            {k: c.unknown for k, c in conds.items()}, regenerate=req.targets)
    check_targets(plans, conds)
    generated = list(dict.fromkeys(p.target for p in plans if not p.skipped))
    tok_dir = req.tokenizers or req.checkpoint / TOKENIZERS_SUBDIR
    need = sorted({c.spec.name for c in conds.values()} | set(generated))
    tokenizers = _load_tokenizers(tok_dir, registry, need, conds, generated, req.device, req.tokenizer_sources)
    from ..provenance_check import generation_mismatches

    for problem in generation_mismatches(req.checkpoint, tok_dir, registry, need):
        log(f"Warning: {problem}")

    from ..merging.loading import load_predictor

    log(f"Loading {req.checkpoint} …")
    _model, predictor = load_predictor(req.checkpoint, registry, req.device)
    batch = tokenize_conditions(conds, tokenizers, predictor)
    log(f"Generating {', '.join(generated)} for {req.samples} sample(s) …")
    result = Generator(predictor, registry, device=req.device).generate(
        batch, schedule, seed=req.seed, batch_size=req.samples, use_cache=req.use_cache,
        regenerate=req.targets)
    meta = {"checkpoint": str(req.checkpoint), "seed": req.seed, "samples": req.samples,
            "conditions": {k: c.source for k, c in conds.items()},
            "steps": [{"target": p.target, "scheme": p.scheme, "counts": p.counts,
                       "temperatures": p.temperatures, "condition_on": p.condition_on,
                       "guidance_on": p.guidance_on, "skipped": p.skipped,
                       "config": p.config.model_dump(mode="json")} for p in plans]}
    specs = {n: registry.get_modality(n) for n in {*need, *inputs}}
    with staged_dir(req.out) as tmp:
        dirs = write_results(tmp, result, conds, specs, tokenizers, meta)
    return [req.out / d.name for d in dirs]


def _load_tokenizers(root: Path, registry: Registry, need: list[str], conds: dict[str, Condition],
                     generated: list[str], device: str = "cpu",
                     sources: dict[str, str] | None = None) -> dict[str, Any]:
    """Tokenizers for raw inputs (required) and targets (required: pictures need decoding)."""
    from ..tokenizers import load_tokenizers, saved_tokenizer_path

    required = sorted({c.spec.name for c in conds.values() if c.tokens is None and not c.spec.input_only}
                      | set(generated))  # pixels / embeddings are read as they are
    if not required:
        return {}
    sources = {n: s for n, s in (sources or {}).items() if n in need}
    if not root.is_dir() and not set(required) <= set(sources):
        raise FourmError(f"No tokenizers directory at {root} (needed for {', '.join(required)}); "
                         "pass --tokenizers DIR or --tokenizer MODALITY=SOURCE.")
    present = [n for n in need if n in sources or
               (root.is_dir() and saved_tokenizer_path(root, registry.get_modality(n)) is not None)]
    missing = [n for n in required if n not in present]
    if missing:
        raise FourmError(f"No tokenizer for {', '.join(missing)} in {root}; pass --tokenizers DIR "
                         "or give inputs as token ids (--cond tok_NAME=ids.npy).")
    loaded = load_tokenizers(root if root.is_dir() else None, registry, present, sources)
    return {n: (t.to(device) if hasattr(t, "to") else t) for n, t in loaded.items()}

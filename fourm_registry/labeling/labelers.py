"""Loading the labelers a run asks for: one per modality, on the chosen device."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import FourmError
from ..provenance import label_record


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda``, else Apple ``mps``, else ``cpu``; an unavailable device is a user error."""
    import torch

    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise FourmError(f"--device {device}: no CUDA device is available (use cpu or auto)")
        return device
    if device == "mps":
        if not mps:
            raise FourmError("--device mps: no Apple MPS device is available (use cpu or auto)")
        return device
    if device != "cpu":
        raise FourmError(f"Unknown device {device!r}: use auto, cpu, mps or cuda[:N]")
    return device


@dataclass(frozen=True)
class TextInput:
    """A labeler called on the samples' texts (their caption field) instead of images (``inputs="text"``)."""

    fn: Callable[[list[str]], list[Any]]

    def __call__(self, captions: list[str]) -> list[Any]:
        return self.fn(captions)


@dataclass(frozen=True)
class SampleInput:
    """A labeler called on decoded sample dicts (``inputs="sample"``); ``reads`` run before it."""

    fn: Callable[[list[dict[str, Any]]], list[Any]]
    reads: tuple[str, ...] = ()

    def __call__(self, samples: list[dict[str, Any]]) -> list[Any]:
        return self.fn(samples)


def _chosen(registry: Any, name: str, labeler_names: Mapping[str, str]) -> Any:
    spec = registry.get_modality(name)
    return registry.get_labeler(labeler_names[name]) if name in labeler_names else spec.labeler


def run_order(names: Sequence[str], reads: Mapping[str, Sequence[str]]) -> list[str]:
    """``names`` so that each comes after the ones of this run it reads (stable; a cycle is an error)."""
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = " -> ".join(visiting[visiting.index(name):] + [name])
            raise FourmError(f"Labelers read each other in a cycle: {cycle}.")
        visiting.append(name)
        for dep in reads.get(name, ()):
            if dep in names and dep != name:
                visit(dep)
        visiting.pop()
        done.append(name)

    for n in names:
        visit(n)
    return done


class Labelers(dict):
    """``{modality: labeler}`` in run order; ``provenance`` holds each one's label record."""

    def __init__(self) -> None:
        super().__init__()
        self.provenance: dict[str, dict[str, Any]] = {}


def build_labelers(registry: Any, modalities: Sequence[str], device: str,
                   models: Mapping[str, str] | None = None,
                   labeler_names: Mapping[str, str] | None = None) -> Labelers:
    """One loaded labeler per modality (the modality's own, or a named registered one), in run
    order: a sample labeler after the labelers of this run it reads."""
    models, labeler_names = dict(models or {}), dict(labeler_names or {})
    for name in list(models) + list(labeler_names):
        if name not in modalities:
            raise FourmError(f"A model or labeler was given for {name!r}, which is not in --modalities")
    chosen = {name: _chosen(registry, name, labeler_names) for name in modalities}
    order = run_order(list(modalities), {n: lab.reads for n, lab in chosen.items() if lab is not None})
    out = Labelers()
    for name in order:
        lab = chosen[name]
        if lab is None or lab.modality != name:
            have = sorted(m for m, s in registry.modalities.items() if s.labeler is not None)
            raise FourmError(f"Modality {name!r} has no pseudo-labeler"
                             + (f" (labeler {lab.name!r} is for {lab.modality!r})" if lab else "")
                             + f". Modalities with one: {', '.join(have) or 'none'}.")
        model = models.get(name) or lab.default_model
        try:
            labeler = lab.factory(model, device)
            out[name] = (TextInput(labeler) if lab.inputs == "text" else
                         SampleInput(labeler, lab.reads) if lab.inputs == "sample" else labeler)
            out.provenance[name] = label_record(lab, model, labeler)
        except FourmError:
            raise
        except Exception as exc:
            raise FourmError(f"Could not load labeler {lab.name!r} for modality {name!r} from "
                             f"{model!r}: {type(exc).__name__}: {exc}. Weights cannot be downloaded "
                             f"everywhere: pass a local directory with --model {name}=PATH.") from exc
    return out

"""What every merge shares: reading two parents, checking they can be merged, the plan, the write.

A plan lists every tensor of the merged model with what happens to it (averaged, copied from
one parent, concatenated, new, rebuilt) and its size, so nothing is lost silently; it is shown
before any weight is written. The output directory appears only when it is complete (written
under a temporary name, then renamed).
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FourmError

CONFIG_NAME = "config.json"
FAMILY_FORMATS = {"fourm/1": "4m"}  # config "format" → model family a merge understands
RUNTIME_KEYS = ("act_checkpoint", "attention", "preset")  # model settings that do not shape weights
ACTIONS = ("averaged", "copied from A", "copied from B", "concatenated", "new", "rebuilt")


@dataclass
class Parent:
    """One parent checkpoint: its directory, config.json and the model it loads as."""

    label: str  # "A" or "B"
    path: Path
    config: dict[str, Any]
    model: nn.Module

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self.config["modalities"]

    @property
    def family(self) -> str:
        return family_of(self.config, self.path)


def family_of(config: Mapping[str, Any], path: Path) -> str:
    fmt = config.get("format")
    family = config.get("family") or FAMILY_FORMATS.get(str(fmt))
    if family is None:
        raise FourmError(f"{path}: not a fourm checkpoint (format {fmt!r}); only fourm export "
                         "directories can be merged.")
    return str(family)


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    directory = Path(path)
    cfg = directory / CONFIG_NAME
    if not cfg.is_file():
        raise FourmError(f"{directory}: no {CONFIG_NAME} there (expected a fourm export directory).")
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as exc:
        raise FourmError(f"{cfg}: not valid JSON ({exc.msg}, line {exc.lineno}).") from exc


def load_parent(label: str, path: str | os.PathLike, registry: Any,
                loader: Callable[[Path, Any], nn.Module] | None = None) -> Parent:
    """Read a parent's config and weights (``loader`` defaults to the family's; a released 4M
    model, directory or Hub id, loads through the ml-4m interop)."""
    from ..interop.ml4m import init as official

    if loader is None and official.is_official_dir(path):
        directory, config, released = official.merge_parent(path, registry)
        return Parent(label, directory, config, released.eval())
    directory = Path(path)
    config = read_config(directory)
    family_of(config, directory)
    if loader is None:
        loader = family_loader(family_of(config, directory), registry)
    model = loader(directory, registry)
    return Parent(label, directory, config, model.eval())


def family_loader(family: str, registry: Any) -> Callable[[Path, Any], nn.Module]:
    """How a checkpoint of ``family`` loads: 4M and cross-fused 4M here, others by their family's ``load``."""
    if family == "4m":
        from ..model import FourM

        return lambda p, reg: FourM.from_pretrained(p, reg)
    if family == "4m-cross":
        from .cross_model import load_cross

        return lambda p, reg: load_cross(p, reg)
    spec = registry.get_family(family)
    if spec.load is None:
        raise FourmError(f"Model family {family!r} cannot load an exported model, so it cannot be merged.")
    return lambda p, reg: spec.load(p, reg)


def check_same_family(a: Parent, b: Parent) -> None:
    if a.family != b.family:
        raise FourmError(f"Cannot merge models of different families: A ({a.path}) is {a.family!r}, "
                         f"B ({b.path}) is {b.family!r}.")


_TOKENIZER_FIELDS = ("kind", "loss", "vocab_size", "image_size", "patch_size", "max_length", "extras")


def fingerprints(path: Path) -> dict[str, str]:
    """Per modality, the fingerprint of the tokenizer a parent was trained with (its ``provenance.json``)."""
    from ..provenance import read_export_provenance

    info = read_export_provenance(path) or {}
    out = {n: r["fingerprint"] for n, r in (info.get("tokenizers") or {}).items()
           if isinstance(r, dict) and r.get("fingerprint")}
    for name, value in (info.get("trained_on") or {}).items():
        found = value.get("fingerprint") if isinstance(value, dict) else value
        if isinstance(found, str):
            out.setdefault(name, found)
    return out


def check_tokenizers(a: Parent, b: Parent) -> None:
    """A modality in both parents must have been tokenized the same way (sizes, kind, extras, and
    the tokenizer fingerprint where both exports record one)."""
    fa, fb = fingerprints(a.path), fingerprints(b.path)
    for name in sorted(set(a.records) & set(b.records)):
        ra, rb = a.records[name], b.records[name]
        differ = [f for f in _TOKENIZER_FIELDS if ra.get(f) != rb.get(f)]
        if differ:
            f = differ[0]
            raise FourmError(f"Modality {name!r} has different tokenizers in A and B ({f}: "
                             f"{ra.get(f)!r} vs {rb.get(f)!r}); both parents must share it.")
        if name in fa and name in fb and fa[name] != fb[name]:
            raise FourmError(f"Modality {name!r} has different tokenizers in A and B (fingerprints "
                             f"{fa[name][:19]} vs {fb[name][:19]}); both parents must share it.")


def union_records(a: Parent, b: Parent) -> dict[str, dict[str, Any]]:
    """A's modalities in A's order, then B's that A lacks."""
    out = dict(a.records)
    out.update({n: r for n, r in b.records.items() if n not in out})
    return out


def architecture(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config["model"].items() if k not in RUNTIME_KEYS}


def check_same_architecture(a: Parent, b: Parent, method: str, keys: Iterable[str] | None = None) -> None:
    arch_a, arch_b = architecture(a.config), architecture(b.config)
    wanted = list(keys) if keys is not None else sorted(set(arch_a) | set(arch_b))
    differ = [k for k in wanted if arch_a.get(k) != arch_b.get(k)]
    if differ:
        detail = ", ".join(f"{k} {arch_a.get(k)!r} vs {arch_b.get(k)!r}" for k in differ[:3])
        raise FourmError(f"--method {method} needs parents of the same architecture; A and B differ "
                         f"in {detail}.")


def parse_weights(text: str | Iterable[float]) -> tuple[float, float]:
    """``"0.5,0.5"`` → (0.5, 0.5): two non-negative numbers that sum to 1."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise FourmError(f"--weights {text!r}: give two numbers, e.g. 0.5,0.5.") from None
    if len(values) != 2 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-6:
        raise FourmError(f"--weights {text!r}: give two non-negative numbers that sum to 1, e.g. 0.5,0.5.")
    return values[0], values[1]


# -- the plan --------------------------------------------------------------------------
@dataclass
class MergePlan:
    """Per merged tensor: action, shape and where it came from."""

    method: str
    parents: tuple[str, str]
    entries: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parent_params: tuple[int, int] = (0, 0)

    def add(self, name: str, action: str, shape: Iterable[int]) -> None:
        assert action in ACTIONS, action
        self.entries.append((name, action, tuple(int(s) for s in shape)))

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per action: (tensors, parameters)."""
        tensors, params = Counter(), Counter()
        for _, action, shape in self.entries:
            tensors[action] += 1
            params[action] += int(torch.Size(shape).numel())
        return {a: (tensors[a], params[a]) for a in ACTIONS if tensors[a]}

    @property
    def total(self) -> int:
        return sum(p for _, p in self.counts().values())

    def render(self, detail: bool = False) -> str:
        a, b = self.parents
        lines = [(f"Merge plan ({self.method}): A = {a} ({self.parent_params[0]:,} parameters), "
                  f"B = {b} ({self.parent_params[1]:,} parameters)")]
        for action, (n, p) in self.counts().items():
            lines.append(f"  {action:<14} {n:>4} tensors {p:>12,} parameters")
        lines.append(f"  {'merged model':<14} {len(self.entries):>4} tensors {self.total:>12,} parameters")
        if detail:
            lines += [f"    {action:<14} {name} {list(shape)}" for name, action, shape in self.entries]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def unique_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with tied tensors listed once (the first name), as safetensors stores them."""
    seen: set[int] = set()
    out = {}
    for name, tensor in model.state_dict().items():
        key = tensor.data_ptr()
        if key in seen and tensor.numel():
            continue
        seen.add(key)
        out[name] = tensor
    return out


def check_shapes(model: nn.Module, state: Mapping[str, torch.Tensor], method: str) -> None:
    own = model.state_dict()
    for name, tensor in state.items():
        if name not in own:
            raise FourmError(f"--method {method}: produced {name!r}, which the merged model does not have.")
        if tuple(own[name].shape) != tuple(tensor.shape):
            raise FourmError(f"--method {method}: {name} would be {list(tensor.shape)} but the merged "
                             f"model needs {list(own[name].shape)}.")
    missing = sorted(set(unique_state(model)) - set(state))
    if missing:
        raise FourmError(f"--method {method}: no rule gave {missing[:3]}.")


# -- the write -------------------------------------------------------------------------
def prepare_out(out: str | os.PathLike, overwrite: bool = False) -> Path:
    target = Path(out)
    if target.exists() and not overwrite:
        raise FourmError(f"{target} already exists; choose another --out (or pass --overwrite).")
    return target


def write_atomically(target: Path, save: Callable[[Path], Any], extra: Mapping[str, Any] | None = None) -> Path:
    """``save(tmp)`` into a sibling temporary directory, add ``merge.json``, then rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.merging-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        save(tmp)
        if extra is not None:
            (tmp / "merge.json").write_text(json.dumps(extra, indent=2) + "\n")
        if target.exists():
            old = target.parent / f".{target.name}.replaced-{os.getpid()}"
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def carry_provenance(out: Path, a: Parent, b: Parent) -> None:
    """The merged export is self-contained like a training export: the parents' ``tokenizers/``
    (A's first, then what only B has) and a ``provenance.json`` of both."""
    from ..provenance import CHECKPOINT_FILE, read_export_provenance

    info: dict[str, Any] = {"merged_from": [str(a.path), str(b.path)], "trained_on": {}, "tokenizers": {}}
    for parent in (a, b):
        src = parent.path / "tokenizers"
        if src.is_dir():
            for sub in sorted(p for p in src.iterdir() if p.is_dir()):
                if not (out / "tokenizers" / sub.name).exists():
                    shutil.copytree(sub, out / "tokenizers" / sub.name)
        prov = read_export_provenance(parent.path) or {}
        for key in ("trained_on", "tokenizers"):
            for name, value in (prov.get(key) or {}).items():
                info[key].setdefault(name, value)
    (out / CHECKPOINT_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

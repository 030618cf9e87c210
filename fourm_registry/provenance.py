"""Where data came from: tokenizer fingerprints and label records, carried with every sample.

Each sample of a labeled or tokenised shard holds a ``fourm_provenance.json`` member:
``{"labels": {modality: record}, "tokens": {modality: {"tokenizer", "fingerprint"}}}``. A
tokenizer's fingerprint is a hash of its config and weights, so training on tokens of one
tokenizer and decoding with another is caught (``fourm train`` refuses, ``fourm generate``
warns). Label records name the labeler, model, revision or weights hash, thresholds and
the fourm version.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import FourmError

PROVENANCE_FIELD = "fourm_provenance"
PROVENANCE_MEMBER = f"{PROVENANCE_FIELD}.json"
CHECKPOINT_FILE = "provenance.json"  # in an export/ directory
_TOKENIZER_FILES = ("config.json", "tokenizer.json")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".tflite", ".onnx", ".msgpack", ".h5")


def _version() -> str:
    from . import __version__

    return __version__


def hash_files(root: Path, files: Iterable[Path]) -> str:
    """sha256 over (relative name, content) of ``files``, in name order."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def tokenizer_fingerprint(path: str | Path) -> str:
    """``sha256:<hex>`` of a saved tokenizer's config (``config.json``/``tokenizer.json``) and weights."""
    root = Path(path)
    files = [root / n for n in _TOKENIZER_FILES if (root / n).is_file()]
    files += [p for p in root.glob("*.safetensors") if p.is_file()]
    if not files:
        raise FourmError(f"{root} holds no saved tokenizer (config.json, tokenizer.json or *.safetensors).")
    return "sha256:" + hash_files(root, files)


def short(fingerprint: str | None) -> str:
    """The first 12 hex digits, for messages."""
    return (fingerprint or "none").removeprefix("sha256:")[:12]


def tokenizer_records(root: str | Path, registry: Any, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{modality: {"tokenizer": dir name, "fingerprint": ...}}`` for the saved tokenizers under ``root``."""
    from .tokenizers import saved_tokenizer_path, tokenizer_subdir

    out: dict[str, dict[str, str]] = {}
    for name in names:
        spec = registry.get_modality(name)
        path = saved_tokenizer_path(root, spec) if spec.has_tokenizer else None
        if path is not None:
            out[name] = {"tokenizer": tokenizer_subdir(spec), "fingerprint": tokenizer_fingerprint(path)}
    return out


def weights_hash(model: str | None) -> tuple[str | None, str | None]:
    """``(revision, weights sha256)`` of a labeler model: a local directory is hashed; a hub id
    is looked up in the local hub cache only (its snapshot commit and files), never downloaded."""
    if not model:
        return None, None
    path, revision = Path(model).expanduser(), None
    if not path.is_dir():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(model, local_files_only=True))
            revision = path.name
        except Exception:  # not cached (or not a hub id): nothing to hash
            return None, None
    files = [p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES]
    return revision, ("sha256:" + hash_files(path, files)) if files else None


def label_record(labeler_spec: Any, model: str | None, labeler: Any = None) -> dict[str, Any]:
    """What produced a modality's labels: labeler, model, revision/weights hash, thresholds, fourm version.

    Thresholds are the labeler object's numeric ``*threshold*`` attributes; a labeler may add
    or override fields with a ``provenance()`` method returning a dict.
    """
    revision, weights = weights_hash(model)
    inner = getattr(labeler, "fn", labeler)  # unwrap the text/sample input wrappers
    thresholds = {k: v for k, v in vars(inner).items()
                  if "threshold" in k and isinstance(v, int | float) and not isinstance(v, bool)} \
        if hasattr(inner, "__dict__") else {}
    config = getattr(getattr(inner, "model", None), "config", None)
    revision = revision or getattr(config, "_commit_hash", None)
    record = {"labeler": labeler_spec.name, "model": model, "revision": revision, "weights": weights,
              "thresholds": thresholds, "fourm_version": _version(),
              "labeled_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    extra = getattr(inner, "provenance", None)
    if callable(extra):
        record.update(dict(extra()))
    return record


def merged(old: Mapping[str, Any] | None, labels: Mapping[str, Any] | None = None,
           tokens: Mapping[str, Any] | None = None, drop: Iterable[str] = ()) -> dict[str, Any]:
    """A sample's provenance after this step: ``drop`` (relabeled modalities) loses its old
    label and token records, then ``labels``/``tokens`` are added."""
    gone = set(drop)
    out: dict[str, Any] = {"labels": {}, "tokens": {}}
    for part in ("labels", "tokens"):
        for name, rec in dict((old or {}).get(part) or {}).items():
            if name not in gone:
                out[part][name] = rec
    out["labels"].update(labels or {})
    out["tokens"].update(tokens or {})
    return out


def decode_member(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def encode_member(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True).encode("utf-8")


# -- checkpoints ---------------------------------------------------------------------------
_SKIP_SUFFIXES = (".png", ".jsonl", ".log")  # training by-products beside a saved tokenizer


def write_export_provenance(export: Path, registry: Any, names: Iterable[str], tokenizer_dir: str | None,
                            tokens: Mapping[str, Any]) -> dict[str, Any]:
    """Make ``export`` self-contained: copy the run's tokenizers into ``export/tokenizers`` and
    write ``provenance.json`` (the fingerprints the model was trained on, and those copied)."""
    import shutil

    names = list(names)
    copied = tokenizer_records(tokenizer_dir, registry, names) if tokenizer_dir and Path(tokenizer_dir).is_dir() \
        else {}
    for rec in copied.values():
        src, dst = Path(tokenizer_dir) / rec["tokenizer"], export / "tokenizers" / rec["tokenizer"]  # type: ignore[arg-type]
        if dst.exists():
            continue
        dst.mkdir(parents=True)
        for f in src.iterdir():
            if f.is_file() and f.suffix not in _SKIP_SUFFIXES:
                shutil.copy2(f, dst / f.name)
    info = {"fourm_version": _version(), "trained_on": dict(tokens), "tokenizers": copied}
    (export / CHECKPOINT_FILE).write_text(json.dumps(info, indent=2, sort_keys=True))
    return info


def read_export_provenance(export: str | Path) -> dict[str, Any] | None:
    path = Path(export) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def load_export_tokenizers(export: str | Path, registry: Any, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The tokenizers an ``export/`` carries, checked against the fingerprints it recorded."""
    from .tokenizers import load_tokenizers

    root = Path(export) / "tokenizers"
    if not root.is_dir():
        raise FourmError(f"{export} carries no tokenizers (train with modalities.tokenizer_dir set, "
                         "or pass --tokenizers).")
    for name, rec in ((read_export_provenance(export) or {}).get("tokenizers") or {}).items():
        d = root / rec["tokenizer"]
        if d.is_dir() and tokenizer_fingerprint(d) != rec["fingerprint"]:
            raise FourmError(f"{d} was changed after export: fingerprint {short(tokenizer_fingerprint(d))}, "
                             f"recorded {short(rec['fingerprint'])}.")
    return load_tokenizers(root, registry, names)

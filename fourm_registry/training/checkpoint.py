"""Resumable DeepSpeed checkpoints written atomically, plus per-rank RNG and data state.

Layout of a checkpoint directory::

    latest               tag of the newest complete checkpoint (replaced atomically)
    step_00000120/       DeepSpeed model/optimizer files, rank_00000.pt … (one per rank:
                         RNG states and data-pipeline position), meta.json
    .tmp-step_00000140/  a checkpoint being written; renamed only once every rank is done

A crash or a full disk while writing leaves ``latest`` and the previous checkpoint as
they were. The directory must be visible to every rank (a shared filesystem on clusters).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..errors import FourmError
from .safe_load import check_torch_file, safe_deepspeed_loads, safe_torch_load

TAG_PREFIX = "step_"
TMP_PREFIX = ".tmp-"


class CheckpointError(FourmError):
    """A checkpoint could not be written or read."""


def step_tag(step: int) -> str:
    return f"{TAG_PREFIX}{step:08d}"


# -- RNG states (torch.load(weights_only=True) safe: tensors, ints, tuples) ----------------
def capture_rng() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def standalone_params(module: torch.nn.Module) -> Iterator[None]:
    """Give each parameter its own storage for the duration (for ``save_pretrained``).

    ZeRO keeps parameters as views into one flat buffer, which safetensors refuses to
    save as separate tensors; the views are put back afterwards so training continues.
    """
    saved = [(p, p.data) for p in module.parameters()]
    try:
        for p, data in saved:
            p.data = data.detach().clone()
        yield
    finally:
        for p, data in saved:
            p.data = data


# -- atomic file helpers -----------------------------------------------------------------
def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def _barrier() -> None:
    if _dist():
        dist.barrier()


def _any_rank(flag: bool) -> bool:
    """True if ``flag`` is set on any rank (a collective: every rank must call it)."""
    if not _dist():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


class CheckpointManager:
    """Save, find, load and prune the checkpoints of one run."""

    def __init__(self, root: str | Path, keep_last: int | None, rank: int, world_size: int):
        self.root = Path(root)
        self.keep_last = keep_last
        self.rank, self.world_size = rank, world_size

    # -- discovery -------------------------------------------------------------------
    def complete(self) -> list[str]:
        """Tags of complete checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        tags = [p.name for p in self.root.iterdir()
                if p.is_dir() and p.name.startswith(TAG_PREFIX) and (p / "meta.json").is_file()]
        return sorted(tags)

    def latest(self) -> str | None:
        marker = self.root / "latest"
        if marker.is_file():
            tag = marker.read_text().strip()
            if (self.root / tag / "meta.json").is_file():
                return tag
        tags = self.complete()
        return tags[-1] if tags else None

    # -- save ------------------------------------------------------------------------
    def save(self, engine: Any, step: int, client_state: dict[str, Any],
             rank_state: dict[str, Any]) -> Path:
        """Write checkpoint ``step`` from every rank; raise :class:`CheckpointError` on failure."""
        tag = step_tag(step)
        tmp_tag = f"{TMP_PREFIX}{tag}"
        tmp_dir, final = self.root / tmp_tag, self.root / tag
        if self.rank == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp_dir, ignore_errors=True)
        _barrier()
        error: BaseException | None = None
        try:
            engine.save_checkpoint(str(self.root), tag=tmp_tag, client_state=client_state,
                                   save_latest=False)
        except OSError as exc:
            error = exc
            _barrier()  # pairs with the barrier DeepSpeed ends save_checkpoint with on other ranks
        if error is None:
            try:
                self._save_rank_state(tmp_dir, rank_state)
            except OSError as exc:
                error = exc
        if _any_rank(error is not None):
            if self.rank == 0:
                shutil.rmtree(tmp_dir, ignore_errors=True)
            _barrier()
            previous = self.latest()
            kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
            reason = f": {error}" if error is not None else " on another rank"
            raise CheckpointError(f"Could not write checkpoint {tag} in {self.root}{reason}; {kept}.")
        failed: str | None = None
        if self.rank == 0:
            try:
                meta = {"step": step, "world_size": self.world_size, "time": time.time(),
                        "tokens_seen": int(client_state.get("tokens_seen", 0))}
                write_text_atomic(tmp_dir / "meta.json", json.dumps(meta, indent=2))
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp_dir, final)
                write_text_atomic(self.root / "latest", tag)
                self.prune()
            except OSError as exc:
                shutil.rmtree(tmp_dir, ignore_errors=True)
                failed = str(exc)
        if _any_rank(failed is not None):
            raise CheckpointError(f"Could not finalise checkpoint {tag} in {self.root}: "
                                  f"{failed or 'error on rank 0'}; the previous checkpoint is intact.")
        return final

    def _save_rank_state(self, tmp_dir: Path, rank_state: dict[str, Any]) -> None:
        path = tmp_dir / f"rank_{self.rank:05d}.pt"
        part = path.with_name(path.name + ".part")
        torch.save(rank_state, part)
        os.replace(part, path)

    def prune(self) -> None:
        """Delete all but the newest ``keep_last`` complete checkpoints, stale temporaries and
        orphans (``step_*`` without ``meta.json``: a kill inside an earlier prune)."""
        for p in self.root.iterdir():
            if p.is_dir() and (p.name.startswith(TMP_PREFIX) or
                               (p.name.startswith(TAG_PREFIX) and not (p / "meta.json").is_file())):
                shutil.rmtree(p, ignore_errors=True)
        if not self.keep_last:
            return
        for tag in self.complete()[:-self.keep_last]:
            (self.root / tag / "meta.json").unlink(missing_ok=True)  # first: a kill mid-delete leaves an orphan
            shutil.rmtree(self.root / tag, ignore_errors=True)

    # -- load ------------------------------------------------------------------------
    def _meta(self, tag: str) -> dict[str, Any]:
        path = self.root / tag / "meta.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"Broken checkpoint {self.root / tag}: meta.json is missing.") from None
        except (ValueError, OSError) as exc:
            raise CheckpointError(f"Broken checkpoint {path}: not valid JSON ({exc}).") from None
        bad = [k for k in ("step", "world_size") if not isinstance(meta, dict) or not isinstance(meta.get(k), int)
               or isinstance(meta.get(k), bool)]
        if bad:
            raise CheckpointError(f"Broken checkpoint {path}: {', '.join(bad)} missing or not an integer.")
        return meta

    def load(self, engine: Any, tag: str | None = None) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Restore ``engine`` from ``tag`` (default: latest); returns (client state, rank state).

        Every file is read without unpickling objects (:mod:`.safe_load`); a broken checkpoint
        raises one :class:`CheckpointError` line naming the directory and what is wrong.
        """
        tag = tag or self.latest()
        if tag is None:
            return None
        folder = self.root / tag
        meta = self._meta(tag)
        if meta["world_size"] != self.world_size:
            raise CheckpointError(
                f"Checkpoint {folder} was written by {meta['world_size']} ranks; resume it "
                f"with {meta['world_size']} ranks (this run has {self.world_size}), or start a new "
                "run from an exported model with --init.")
        for f in sorted(folder.glob("*.pt")):
            try:
                check_torch_file(f)
            except FourmError as exc:
                raise CheckpointError(f"Broken checkpoint: {exc}; delete {folder} to resume from an "
                                      "earlier one.") from None
        try:
            with safe_deepspeed_loads(engine):
                path, client_state = engine.load_checkpoint(str(self.root), tag=tag,
                                                            load_optimizer_states=True,
                                                            load_lr_scheduler_states=False)
        except FourmError as exc:
            raise CheckpointError(f"Cannot resume from {folder}: {exc}") from None
        except Exception as exc:  # DeepSpeed / torch: missing keys, shape mismatch, corrupt archive
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            kind = "it does not match this model (other modalities or sizes?)" \
                if "state_dict" in str(exc) or "size mismatch" in str(exc) else "it is unreadable"
            raise CheckpointError(f"Cannot resume from {folder}: {kind} ({type(exc).__name__}: {first}).") from None
        if path is None:
            raise CheckpointError(f"DeepSpeed could not load checkpoint {folder} (model states missing?).")
        rank_file = folder / f"rank_{self.rank:05d}.pt"
        try:
            rank_state = safe_torch_load(rank_file)
        except FourmError as exc:
            raise CheckpointError(f"Broken checkpoint: {exc}.") from None
        if not isinstance(rank_state, dict) or not isinstance(client_state or {}, dict):
            raise CheckpointError(f"Broken checkpoint {folder}: the rank or client state is not a mapping.")
        return dict(client_state or {}), rank_state

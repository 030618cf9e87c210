"""The training loop: one DeepSpeed engine, whatever the machine (1 CPU process … many GPU nodes).

``Trainer(cfg, registry).fit()`` builds the model, data and losses from the registry,
resumes from the latest checkpoint if there is one, and trains until ``optim.total_tokens``
(or ``train.max_steps``). Per step: lr from tokens seen → forward/backward per micro-batch →
``engine.step()``. Steps whose loss or gradients are not finite are skipped (by DeepSpeed's
ZeRO optimizer, or by :class:`GuardedAdamW` at stage 0) and counted.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..determinism import deterministic_kernels
from ..errors import FourmError
from .batching import count_tokens, move_batch
from .build import build_model_for, enable_activation_checkpointing, resolve_modalities, run_family
from .checkpoint import CheckpointError, CheckpointManager, capture_rng, restore_rng, standalone_params, write_text_atomic
from .config import TrainConfig
from .deepspeed_config import native_cpu_bf16
from .engine import build_engine
from .evaluate import evaluate
from .launch import DistInfo, init_distributed
from .optim import TokenSchedule, scaled_lr
from .state import DataFactory, TrainingDiverged, TrainResult, TrainState
from .tracking import RunLogger

Callback = Callable[["Trainer", TrainState], None]


class Trainer:
    def __init__(self, cfg: TrainConfig, registry: Any = None, *, callbacks: Iterable[Callback] = (),
                 data: DataFactory | None = None, model_wrapper: Callable[[Any], Any] | None = None,
                 local_rank: int | None = None):
        if registry is None:
            from ..registry import get_registry

            registry = get_registry()
        self.cfg = cfg
        self.registry = registry
        self.callbacks = list(callbacks)
        self._data = data
        self._model_wrapper = model_wrapper  # tests: wrap the built model (e.g. to inject NaNs)
        self._local_rank = local_rank
        self.state = TrainState()

    # -- set-up ----------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.cfg
        self.dist: DistInfo = init_distributed(self._local_rank, cfg.train.device)
        if cfg.train.deterministic and self.dist.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        self.registry, self.specs = resolve_modalities(cfg.modalities, self.registry)
        self.family, self.model_cfg = run_family(cfg, self.registry, self.specs)
        self.paths = cfg.paths()
        # Data first: a missing shard or tokens of another tokenizer fail before the engine is built.
        self.token_provenance = self._token_provenance() if self._data is None else {}
        self.data = self._data or _default_data(cfg, self.registry, self.specs, self.family, self.model_cfg)
        self.loader = self.data.train(rank=self.dist.rank, world_size=self.dist.world_size,
                                      seed=cfg.train.seed)
        self.data.held_out(rank=self.dist.rank, world_size=self.dist.world_size, seed=cfg.eval.seed)
        torch.manual_seed(cfg.train.seed)  # identical initial weights on every rank
        model, self.fresh_params = build_model_for(cfg, self.registry, self.specs)
        if self._model_wrapper is not None:
            model = self._model_wrapper(model)
        o = cfg.optim
        world_batch = cfg.train.batch_size * cfg.deepspeed.gradient_accumulation * self.dist.world_size
        self.peak_lr = o.lr if o.lr is not None else scaled_lr(o.base_lr, world_batch, o.base_batch)
        floor = o.min_lr * (self.peak_lr / o.base_lr if o.lr is None else 1.0)
        self.schedule = TokenSchedule(self.peak_lr, o.warmup_tokens, o.total_tokens, floor)
        self.parts = build_engine(model, cfg.deepspeed, lr=self.peak_lr, betas=o.betas, eps=o.eps,
                                  weight_decay=o.weight_decay, micro_batch=cfg.train.batch_size,
                                  world_size=self.dist.world_size, device=self.dist.device)
        self.engine, self.optimizer, self.ds_config = self.parts.engine, self.parts.optimizer, self.parts.config
        if cfg.deepspeed.activation_checkpointing:
            enable_activation_checkpointing(model, self.ds_config)
        self.global_batch = self.ds_config["train_batch_size"]
        self.float_dtype = torch.bfloat16 if self.ds_config["bf16"]["enabled"] else None
        self.ckpt = CheckpointManager(self.paths["checkpoints"], cfg.checkpoint.keep_last,
                                      self.dist.rank, self.dist.world_size)
        self.resumed_from = self._resume() if cfg.checkpoint.resume else None
        if self.resumed_from is None:  # per-rank streams (dropout…); a resume restores them instead
            seed = cfg.train.seed + 1000 * self.dist.rank
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
        self._batches = iter(self.loader)

    def _token_provenance(self) -> dict[str, Any]:
        from ..provenance_check import run_token_provenance

        m = self.cfg.modalities
        return run_token_provenance(self.cfg.data.shards, self.registry, [s.name for s in self.specs],
                                    m.tokenizer_dir, m.allow_tokenizer_mismatch)

    def _resume(self) -> str | None:
        tag = self.ckpt.latest()
        loaded = self.ckpt.load(self.engine, tag) if tag else None
        if loaded is None:
            return None
        client, rank_state = loaded
        try:
            self.state = TrainState.from_dict(client["train_state"])
            self.loader.load_state_dict(rank_state["data"])
            restore_rng(rank_state["rng"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
            raise CheckpointError(f"Broken checkpoint {self.ckpt.root / tag}: its training, data or RNG "
                                  f"state is malformed ({type(exc).__name__}: {exc}).") from None
        return tag

    # -- the loop --------------------------------------------------------------------
    def fit(self) -> TrainResult:
        # process-wide switches, left as they were found (tests, notebooks)
        with deterministic_kernels(enabled=self.cfg.train.deterministic):
            return self._fit()

    def _fit(self) -> TrainResult:
        self.setup()
        cfg, st = self.cfg, self.state
        total_steps = cfg.train.max_steps
        self.log = RunLogger(cfg.logging, self.paths["logs"], self.dist.is_main, total_steps,
                             cfg.model_dump(mode="json"), start_step=st.step)
        result = TrainResult(state=st, resumed_from=self.resumed_from)
        if self.resumed_from:
            self.log.line(f"resumed from {self.ckpt.root / self.resumed_from} (step {st.step}, "
                          f"{st.tokens_seen:,} tokens)")
        if "torch_autocast" in self.ds_config and self.dist.device.type == "cpu" and not native_cpu_bf16():
            self.log.line("autocast: bf16 on a CPU without AVX512-BF16 or AMX: bf16 matmuls are emulated "
                          "there (a step measured 16x slower than fp32); autocast: auto picks fp32 here")
        if self.fresh_params:
            self.log.line(f"--init {cfg.init}: {len(self.fresh_params)} tensors of new modalities "
                          "freshly initialised")
        if cfg.eval.at_start and not self.resumed_from:
            result.evals.append(self.run_eval())
        window = _Window()
        saved_at = st.step if self.resumed_from else -1
        try:
            while True:
                result.stopped = self._should_stop()
                if result.stopped:
                    break
                metrics = self.train_step()
                window.add(metrics)
                if st.step % cfg.logging.every == 0:
                    self._log_train(window)
                    window = _Window()
                if cfg.eval.every and st.step % cfg.eval.every == 0:
                    result.evals.append(self.run_eval())
                if cfg.checkpoint.every and st.step % cfg.checkpoint.every == 0:
                    result.checkpoint = self.save()
                    saved_at = st.step
                for callback in self.callbacks:
                    callback(self, st)
            if window.steps:
                self._log_train(window)
            if not result.evals or result.evals[-1]["step"] != st.step:
                result.evals.append(self.run_eval())
            if saved_at != st.step:
                result.checkpoint = self.save()
            result.export_dir = self.export()
            self.log.line(f"done: {result.stopped}; exported to {result.export_dir}")
        finally:
            self.log.close()
        return result

    def _should_stop(self) -> str:
        st, cfg = self.state, self.cfg
        if cfg.train.max_steps is not None and st.step >= cfg.train.max_steps:
            return f"reached train.max_steps={cfg.train.max_steps}"
        if st.tokens_seen >= cfg.optim.total_tokens:
            return f"reached optim.total_tokens={cfg.optim.total_tokens:,}"
        return ""

    def train_step(self) -> dict[str, Any]:
        """One optimiser step over ``gradient_accumulation`` micro-batches."""
        st, engine = self.state, self.engine
        lr = self.schedule.apply(self.optimizer, st.tokens_seen)
        skipped_before = engine.skipped_steps
        tokens, finite = 0, True
        losses: dict[str, float] = {}
        for _ in range(self.cfg.deepspeed.gradient_accumulation):
            try:
                batch = next(self._batches)
            except StopIteration:
                raise FourmError("The training data ran out before the schedule ended; set "
                                 "data.repeat (or lower optim.total_tokens / train.max_steps).") from None
            tokens += count_tokens(batch)
            out = self.parts.step(move_batch(batch, self.dist.device, self.float_dtype))
            for name, value in {"loss": out.loss, **out.losses}.items():
                v = float(value.detach())
                finite &= math.isfinite(v)
                losses[name] = losses.get(name, 0.0) + v / self.cfg.deepspeed.gradient_accumulation
        local_bad = engine.skipped_steps > skipped_before or not finite
        global_tokens, bad = _over_ranks(tokens, local_bad)  # every rank agrees on both
        st.tokens_seen += global_tokens
        st.step += 1
        if bad:
            st.nonfinite_total += 1
            st.nonfinite_in_a_row += 1
            if st.nonfinite_in_a_row >= self.cfg.train.max_nonfinite_in_a_row:
                raise TrainingDiverged(
                    f"{st.nonfinite_in_a_row} steps in a row had a non-finite loss or gradient "
                    f"(train.max_nonfinite_in_a_row={self.cfg.train.max_nonfinite_in_a_row}); stopped "
                    f"at step {st.step}. Latest checkpoint: {self.ckpt.latest() or 'none'}. "
                    "Lower optim.lr / base_lr, raise warmup_tokens, or check the data.")
        else:
            st.nonfinite_in_a_row = 0
        norm = self.optimizer.grad_norm if self.optimizer.guard else engine.get_global_grad_norm()
        return {"lr": lr, "losses": None if bad else losses, "tokens": tokens,
                "grad_norm": None if norm is None or bad else float(norm)}

    # -- evaluation, logging, checkpoints ------------------------------------------------
    def run_eval(self) -> dict[str, float]:
        """Per-modality held-out losses (fixed seed: the same batches and masks every time)."""
        cfg = self.cfg
        record: dict[str, float] = {"step": self.state.step}
        loader = self.data.held_out(rank=self.dist.rank, world_size=self.dist.world_size, seed=cfg.eval.seed)
        if loader is None:
            return record
        scores = evaluate(self.engine, loader, cfg.eval.num_batches, self.dist.device, self.float_dtype)
        record.update({(k if k == "loss" else f"loss/{k}"): v for k, v in scores.items()})
        self.log.scalars(self.state.step, {f"eval/{k}": v for k, v in record.items() if k != "step"})
        shown = "  ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "step")
        self.log.line(f"[eval] step {self.state.step}: {shown}")
        return record

    def _log_train(self, window: _Window) -> None:
        summary = window.summary(self.dist.world_size)
        st = self.state
        summary["train/nonfinite_steps"] = st.nonfinite_total
        summary["train/tokens_seen"] = st.tokens_seen
        self.log.scalars(st.step, summary)
        loss = summary.get("train/loss", float("nan"))
        info = f"loss {loss:.4f}  {summary['train/tokens_per_s']:,.0f} tok/s  lr {summary['train/lr']:.2e}"
        if self.cfg.train.max_steps is None and window.steps:  # estimate the bar's length from tokens
            per_step = max(summary["train/tokens_per_step"], 1.0)
            self.log.set_total(st.step + math.ceil(max(self.cfg.optim.total_tokens - st.tokens_seen, 0) / per_step))
        self.log.advance(st.step, info)
        if self.log.progress is None:
            self.log.line(f"step {st.step}: {info}")

    def _client_state(self) -> dict[str, Any]:
        return {"train_state": self.state.to_dict(), "tokens_seen": self.state.tokens_seen,
                "schedule": self.schedule.state_dict()}

    def save(self) -> Path:
        rank_state = {"rng": capture_rng(), "data": self.loader.state_dict()}
        path = self.ckpt.save(self.engine, self.state.step, self._client_state(), rank_state)
        self.log.line(f"checkpoint {path}")
        return path

    def export(self) -> Path:
        """Write the model as ``save_pretrained`` does, atomically (temporary name, then rename)."""
        out = self.paths["export"]
        module = self.engine.module
        if self.ds_config["zero_optimization"]["stage"] == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None):
                self._write_export(module, out)
        else:
            self._write_export(module, out)
        if dist.is_initialized():
            dist.barrier()
        return out

    def _write_export(self, module: Any, out: Path) -> None:
        if not self.dist.is_main:
            return
        tmp, old = out.with_name(f".tmp-{out.name}"), out.with_name(f".old-{out.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        with standalone_params(module):
            module.save_pretrained(tmp)
        info = {**self.state.to_dict(), "global_batch": self.global_batch, "config": self.cfg.model_dump(mode="json")}
        write_text_atomic(tmp / "trainer_state.json", json.dumps(info, indent=2))
        from ..provenance import write_export_provenance

        write_export_provenance(tmp, self.registry, [s.name for s in self.specs], self.cfg.modalities.tokenizer_dir,
                                self.token_provenance)
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)


class _Window:
    """Metrics accumulated between two log lines."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.steps, self.tokens = 0, 0
        self.losses: dict[str, list[float]] = {}  # name -> [sum, count] over finite steps
        self.norms: list[float] = []
        self.lr = 0.0

    def add(self, m: dict[str, Any]) -> None:
        self.steps += 1
        self.tokens += m["tokens"]
        self.lr = m["lr"]
        for k, v in (m["losses"] or {}).items():
            acc = self.losses.setdefault(k, [0.0, 0])
            acc[0] += v
            acc[1] += 1
        if m["grad_norm"] is not None:
            self.norms.append(m["grad_norm"])

    def summary(self, world_size: int) -> dict[str, float]:
        """Averages over the window and the ranks (a collective when there are several ranks)."""
        keys = sorted(self.losses)
        if world_size > 1:
            gathered: list[list[str]] = [None] * world_size  # type: ignore[list-item]
            dist.all_gather_object(gathered, keys)
            keys = sorted(set().union(*gathered))
        pairs = [self.losses.get(k, [0.0, 0]) for k in keys]
        vec = torch.tensor([x for p in pairs for x in p] + [self.tokens], dtype=torch.float64)
        if world_size > 1:
            dist.all_reduce(vec)
        out = {("train/loss" if k == "loss" else f"train/loss/{k}"): vec[2 * i].item() / vec[2 * i + 1].item()
               for i, k in enumerate(keys) if vec[2 * i + 1].item() > 0}
        out["train/tokens_per_s"] = vec[-1].item() / max(time.perf_counter() - self.start, 1e-9)
        out["train/tokens_per_step"] = vec[-1].item() / max(self.steps, 1)
        out["train/lr"] = self.lr
        if self.norms:
            out["train/grad_norm"] = float(np.mean(self.norms))
        return out


def _over_ranks(tokens: int, bad: bool) -> tuple[int, bool]:
    """Tokens summed over ranks, and whether any rank saw a non-finite step (one all-reduce)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        t = torch.tensor([tokens, int(bad)], dtype=torch.float64)
        dist.all_reduce(t)
        return int(t[0].item()), bool(t[1].item())
    return tokens, bad


def _default_data(cfg: TrainConfig, registry: Any, specs: list[Any], family: Any, model_cfg: Any) -> DataFactory:
    """The family's own batches, or the core's masked token pipeline."""
    if family.data is not None:
        return family.data(cfg, registry, specs, model_cfg)
    from .data import ShardData

    return ShardData(cfg.data, cfg.masking, cfg.modalities, registry, specs, cfg.train.batch_size,
                     cfg.eval.batch_size or cfg.train.batch_size)

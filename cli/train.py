"""``fourm train CONFIG.yaml``: train (or fine-tune) a 4M model with DeepSpeed.

One process on CPU: ``fourm train cfg.yaml``. Several processes: ``torchrun
--nproc_per_node=N -m fourm_cli.app train cfg.yaml``. Clusters: the ``deepspeed`` launcher
with a hostfile (``deepspeed --hostfile H --no_local_rank --module fourm_cli.app train …``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import typer


def _quoted(value: object) -> str:
    """A YAML scalar that reads back as exactly this string (paths with odd characters)."""
    return json.dumps(str(value))


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        ctx: typer.Context,
        config: Path = typer.Argument(..., help="Training config (YAML)."),
        overrides: list[str] = typer.Option([], "--set", help="Override a config value: key.path=value (repeatable)."),
        init: Path | None = typer.Option(None, "--init", help="Start from an exported model (fine-tuning)."),
        keep_last: int | None = typer.Option(None, "--keep-last", min=1, help="Keep only the newest N checkpoints."),
        out: Path | None = typer.Option(None, "--out", help="Run directory (checkpoints, logs, export)."),
        allow_mismatch: bool = typer.Option(False, "--allow-tokenizer-mismatch",
                                            help="Train on tokens whose recorded tokenizer fingerprint differs "
                                                 "between shards or from modalities.tokenizer_dir."),
        local_rank: int | None = typer.Option(None, "--local_rank", "--local-rank", hidden=True,
                                              help="Set by the deepspeed launcher."),
    ) -> None:
        """Train a model from CONFIG: resumes from the run's latest checkpoint if there is one."""
        from fourm_registry.config import load_config
        from fourm_registry.training import TrainConfig, Trainer

        from ._registry import registry_from

        extra = list(overrides)
        if init is not None:
            extra.append(f"init={_quoted(init)}")
        if keep_last is not None:
            extra.append(f"checkpoint.keep_last={keep_last}")
        if out is not None:
            extra.append(f"out_dir={_quoted(out)}")
        if allow_mismatch:
            extra.append("modalities.allow_tokenizer_mismatch=true")
        cfg = load_config(TrainConfig, config, extra)
        result = Trainer(cfg, registry_from(ctx), local_rank=local_rank).fit()
        last = result.evals[-1] if result.evals else {}
        summary = {"resumed_from": result.resumed_from, "step": result.state.step, "tokens_seen": result.state.tokens_seen,
                   "nonfinite_steps": result.state.nonfinite_total, "stopped": result.stopped,
                   "export": str(result.export_dir), "checkpoint": str(result.checkpoint),
                   "eval": {k: v for k, v in last.items() if k != "step"}}
        if int(os.environ.get("RANK", "0")) == 0:
            typer.echo(json.dumps(summary, indent=2))

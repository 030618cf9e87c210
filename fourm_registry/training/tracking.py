"""Where training metrics go: a rich progress bar, TensorBoard, and Weights & Biases if installed.

Only rank 0 writes. Metric names are ``train/loss``, ``train/loss/<modality>``,
``train/lr``, ``train/grad_norm``, ``train/tokens_per_s``, ``eval/loss/<modality>`` …
with the optimiser step as the x-axis.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .config import LoggingSection


class RunLogger:
    def __init__(self, section: LoggingSection, log_dir: Path, enabled: bool,
                 total_steps: int | None, run_config: dict[str, Any], start_step: int = 0):
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.writer: Any = None
        self.wandb: Any = None
        self.progress: Progress | None = None
        self._task: Any = None
        if not enabled:
            return
        if section.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            log_dir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(log_dir=str(log_dir))
        if section.wandb:
            if importlib.util.find_spec("wandb") is None:
                self.console.print("[yellow]logging.wandb is on but wandb is not installed; "
                                   "logging to TensorBoard only.[/yellow]")
            else:
                import wandb

                self.wandb = wandb.init(project=section.wandb_project, config=run_config,
                                        dir=str(log_dir), resume="allow")
        if section.progress and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=self.console)
            self._task = self.progress.add_task("train", total=total_steps, completed=start_step, info="")
            self.progress.start()

    def scalars(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(name, value, step)
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)

    def advance(self, step: int, info: str) -> None:
        """Move the bar to ``step``; ``info`` is the short text beside it (tokens/s, loss)."""
        if self.progress is not None:
            self.progress.update(self._task, completed=step, info=info)

    def set_total(self, steps: int) -> None:
        if self.progress is not None:
            self.progress.update(self._task, total=steps)

    def line(self, text: str) -> None:
        """A log line: above the bar in a terminal, plain otherwise."""
        if self.enabled:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()

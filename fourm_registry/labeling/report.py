"""What a labeling run did, counted per reason, and its progress-bar rate column."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.progress import ProgressColumn, Task
from rich.text import Text


@dataclass
class LabelReport:
    """What a labeling run did; ``skipped``/``converted`` map a reason to a count."""

    images: int = 0
    shards_written: int = 0
    shards_skipped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    converted: dict[str, int] = field(default_factory=dict)
    missing_captions: int = 0
    ignored_members: int = 0
    seconds: float = 0.0
    labeler_seconds: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def count(table: dict[str, int], reason: str, n: int = 1) -> None:
        table[reason] = table.get(reason, 0) + n

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.images, "shards_written": self.shards_written,
                "shards_skipped": self.shards_skipped, "skipped": dict(self.skipped),
                "converted": dict(self.converted), "missing_captions": self.missing_captions,
                "ignored_members": self.ignored_members, "seconds": round(self.seconds, 3),
                "images_per_s": round(self.images_per_s, 2),
                "labeler_seconds": {k: round(v, 3) for k, v in self.labeler_seconds.items()}}


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} img/s" if speed else "… img/s", style="progress.data.speed")

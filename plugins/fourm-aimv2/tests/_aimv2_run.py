"""Subprocess entry: ``python _run.py CONFIG KILL_AT [--set overrides...]`` with the aimv2 plugin loaded;
``KILL_AT`` > 0 sends this process SIGKILL right after that optimiser step."""
from __future__ import annotations

import os
import signal
import sys

from fourm_registry import Registry
from fourm_registry.config import load_config
from fourm_registry.training import TrainConfig, Trainer


def main() -> None:
    config, kill_at, overrides = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

    def crash(trainer: Trainer, state) -> None:
        if state.step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    result = Trainer(load_config(TrainConfig, config, overrides), Registry.build(allow=["aimv2"]),
                     callbacks=[crash]).fit()
    print(f"RESUMED_FROM={result.resumed_from} STEP={result.state.step}")


if __name__ == "__main__":
    main()

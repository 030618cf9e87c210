"""The side-by-side harness against apple/ml-4m (``../shared/perf_vs_ref/bench.py``), with a choice
of optimizer for fourm's training rows.

The harness steps both models with ``torch.optim.AdamW`` at torch's defaults: ml-4m's own
training does exactly that (``fourm/utils/optim_factory.py``), and on CPU it is torch's
single-tensor loop. ``fourm train`` steps :class:`~fourm_registry.training.optim.GuardedAdamW`,
which uses the fused kernel. ``--fourm-optimizer own`` (the default) times fourm with that
optimizer, so each side runs its own training stack; ``--fourm-optimizer torch`` runs the
harness unchanged (same optimizer on both sides: the model's own cost only). Every other
argument goes to the harness (see its README); ``$PERF_VS_REF`` overrides its path.

    ML4M_ROOT=/path/to/ml-4m python benchmarks/perf_vs_ref.py --threads 2 --sizes tiny --reps 5 --order abba
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import torch

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "perf_vs_ref" / "bench.py"


def load_harness(path: Path) -> Any:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("perf_vs_ref_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Optim:
    """``torch.optim`` as the harness sees it: AdamW over fourm's parameters is GuardedAdamW."""

    def __init__(self, fourm_params: set[int]):
        self._fourm = fourm_params

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.optim, name)

    def AdamW(self, params: Any, **kwargs: Any) -> torch.optim.Optimizer:
        from fourm_registry.training.optim import GuardedAdamW

        params = list(params)
        if params and all(id(p) in self._fourm for p in params):
            return GuardedAdamW(params, **kwargs)
        return torch.optim.AdamW(params, **kwargs)


class _Torch:
    def __init__(self, optim: _Optim):
        self.optim = optim

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


def main(argv: list[str] | None = None) -> Any:
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = "own"
    if "--fourm-optimizer" in argv:
        i = argv.index("--fourm-optimizer")
        mode = argv[i + 1]
        del argv[i:i + 2]
    harness = load_harness(Path(os.environ.get("PERF_VS_REF", DEFAULT)))
    print(f"perf_vs_ref.py: fourm's training rows use {'GuardedAdamW (fused)' if mode == 'own' else 'torch AdamW defaults'}",
          flush=True)
    if mode == "own":
        fourm_params: set[int] = set()
        build = harness.build_fourm

        def build_fourm(registry: Any, size: Any) -> Any:
            model = build(registry, size)
            fourm_params.update(id(p) for p in model.parameters())
            return model

        harness.build_fourm = build_fourm
        harness.torch = _Torch(_Optim(fourm_params))
    return harness.main(argv)


if __name__ == "__main__":
    main()

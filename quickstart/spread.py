"""The demo's result over several seeds: per row, the spread, and whether it is a win.

A row counts as a win only if the model beats the baseline on every seed, or if its mean margin
over the baseline is larger than the spread of that margin (half its range over the seeds).
Reads each run directory's ``metrics.json``; prints (or writes) one markdown table.

    python -m fourm_quickstart.spread runs/demo runs/demo-seed1 runs/demo-seed2 [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from fourm_registry.errors import FourmError


def read_runs(dirs: list[Path]) -> list[dict[str, Any]]:
    runs = []
    for d in dirs:
        f = Path(d) / "metrics.json"
        if not f.is_file():
            raise FourmError(f"{d}: no metrics.json (run `fourm quickstart --out {d}` to the end first).")
        runs.append(json.loads(f.read_text()))
    keys = [[(r["target"], r["metric"]) for r in run["rows"]] for run in runs]
    if any(k != keys[0] for k in keys):
        raise FourmError("The runs report different rows; compare runs of one preset and one fourm version.")
    return runs


def _mean_half(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (max(values) - min(values)) / 2


def compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per row: model and baseline mean ± half range, the margins per seed, the verdict."""
    out = []
    for i, first in enumerate(runs[0]["rows"]):
        rows = [run["rows"][i] for run in runs]
        sign = 1.0 if first["higher_is_better"] else -1.0
        margins = [sign * (r["model"] - r["baseline"]) for r in rows]
        mean, half = _mean_half(margins)
        all_seeds = all(m > 0 for m in margins)
        out.append({"target": first["target"], "metric": first["metric"], "higher_is_better": first["higher_is_better"],
                    "model": _mean_half([r["model"] for r in rows]), "baseline": _mean_half([r["baseline"] for r in rows]),
                    "margins": margins, "margin": (mean, half), "wins_every_seed": all_seeds,
                    "win": all_seeds or mean > half})
    return out


def render(rows: list[dict[str, Any]], seeds: list[Any]) -> str:
    wins = sum(r["win"] for r in rows)
    lines = [f"Over seeds {', '.join(map(str, seeds))}: the model wins {wins} of {len(rows)} rows "
             "(a win: better than the baseline on every seed, or by a mean margin larger than the margin's "
             "spread). Values: mean ± half the range over the seeds.", "",
             "| target | metric | model | baseline | margin per seed (+ = model better) | win |", "|---|---|---|---|---|---|"]
    for r in rows:
        arrow = "↑" if r["higher_is_better"] else "↓"
        verdict = "yes, every seed" if r["wins_every_seed"] else ("yes, beyond the spread" if r["win"] else "no")
        lines.append(f"| {r['target']} | {r['metric']} {arrow} | {r['model'][0]:.3f} ± {r['model'][1]:.3f} | "
                     f"{r['baseline'][0]:.3f} ± {r['baseline'][1]:.3f} | "
                     f"{', '.join(f'{m:+.3f}' for m in r['margins'])} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="quickstart run directories (one per seed)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    try:
        runs = read_runs(args.runs)
    except FourmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    text = render(compare(runs), [run.get("facts", {}).get("settings", {}).get("seed", "?") for run in runs])
    if args.out:
        from fourm_registry.training.checkpoint import write_text_atomic

        write_text_atomic(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

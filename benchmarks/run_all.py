"""Run every ``benchmarks/bench_*.py`` and write one JSON with all figures.

Each script prints a JSON object on its last stdout line: figures measured against a
baseline in the same run (ratios), plus ``targets``: {name: {"value", "target", "met"}}.
Scripts run in their own process so peak-memory figures do not leak between them.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def run_one(script: Path, timeout: int) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=timeout, cwd=HERE.parent)
    took = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-5:], "seconds": took}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": "printed no JSON", "seconds": took}
    result = json.loads(lines[-1])
    result["seconds"] = took
    return result


def summarize(benchmarks: dict[str, dict]) -> dict[str, list[str]]:
    """Every target by name, split into met and missed; a script that failed counts as missed."""
    met, missed = [], []
    for bench, result in benchmarks.items():
        if "error" in result:
            missed.append(f"{bench} (failed)")
        for name, target in result.get("targets", {}).items():
            (met if target.get("met") else missed).append(f"{bench}.{name}")
    return {"targets_met": met, "targets_missed": missed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench-results.json")
    parser.add_argument("--only", nargs="*", help="script stems to run (default: all)")
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only or s.stem[6:] in args.only]
    results = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "benchmarks": {},
    }
    for script in scripts:
        print(f"running {script.name} …", file=sys.stderr, flush=True)
        results["benchmarks"][script.stem] = run_one(script, args.timeout)
        Path(args.out).write_text(json.dumps(results, indent=2))
    results.update(summarize(results["benchmarks"]))
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

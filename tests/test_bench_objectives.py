"""benchmarks/bench_objectives.py's CPU path: 4M and AIMv2 pre-trained on the same scenes with the same
token budget and encoder blocks, then probed (and random encoders) on held-out scene facts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ._scripts import ROOT
from ._scripts import load_script as _load

SCRIPT = ROOT / "benchmarks" / "bench_objectives.py"


def load_script():
    return _load("bench_objectives")


def test_scene_facts_are_exact():
    bench = load_script()
    objects = [{"shape": "cube", "color": "red"}, {"shape": "sphere", "color": "blue"},
               {"shape": "cylinder", "color": "green"}]
    sample = {"scene": {"objects": objects, "visible": [0, 2]},  # object 1 is hidden: no box
              "det": [{"box": [0, 0, 4, 4], "label": "cube"}, {"box": [2, 2, 9, 8], "label": "cylinder"}]}
    assert bench.facts(sample) == {"count": 2, "largest_shape": "cylinder", "largest_colour": "green"}
    empty = {"scene": {"objects": objects, "visible": []}, "det": []}
    assert bench.facts(empty)["count"] == 0


@pytest.mark.slow
def test_cpu_path_reports_equal_budgets_and_probe_accuracies(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    budget = 2500
    cmd = [sys.executable, str(SCRIPT), "--work", str(tmp_path), "--seeds", "0", "--n-train", "24", "--n-val", "12",
           "--size", "16", "--patch", "4", "--dim", "32", "--depth", "1", "--batch", "8", "--tokens", str(budget),
           "--probe-epochs", "2", "--table"]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    params = report["encoder_block_parameters"]
    assert params["4m"] == params["aimv2"] > 0  # the same encoder blocks
    for family, runs in report["runs"].items():
        (run,) = runs
        assert run["tokens"] >= budget and run["steps"] >= 1 and run["seconds"] > 0, (family, run)
        assert run["tokens"] - run["tokens"] / run["steps"] < budget  # stopped at the first step past the budget
    names = {f"{f} {k}" for f in ("4m", "aimv2") for k in ("pre-trained", "random init")}
    assert set(report["results"]) == names
    for row in report["results"].values():
        for label in ("facts.count", "facts.largest_shape", "facts.largest_colour"):
            assert row[label]["n"] == 1 and 0.0 <= row[label]["min"] <= row[label]["max"] <= 1.0
    assert set(report["chance"]) == set(row) and all(0.0 <= c <= 1.0 for c in report["chance"].values())
    assert "| aimv2 pre-trained |" in proc.stdout and "| majority class |" in proc.stdout

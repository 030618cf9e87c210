"""`make bench`'s collector: one JSON line per script, targets met/missed, failures kept."""
from __future__ import annotations

from ._scripts import ROOT, load_script


def _run_all():
    return load_script("run_all")


def test_collector_reads_the_last_json_line_and_sorts_targets(tmp_path):
    run_all = _run_all()
    good = tmp_path / "bench_good.py"
    good.write_text('print("warming up")\nprint(\'{"x": 1, "targets": {"fast": {"met": true}, '
                    '"small": {"met": false}}}\')\n')
    bad = tmp_path / "bench_bad.py"
    bad.write_text("import sys\nsys.exit('boom')\n")
    results = {"bench_good": run_all.run_one(good, timeout=60), "bench_bad": run_all.run_one(bad, timeout=60)}
    assert results["bench_good"]["x"] == 1 and results["bench_good"]["seconds"] >= 0
    assert results["bench_bad"]["error"] == ["boom"]
    summary = run_all.summarize(results)
    assert summary["targets_met"] == ["bench_good.fast"]
    assert summary["targets_missed"] == ["bench_good.small", "bench_bad (failed)"]


def test_every_benchmark_prints_one_json_line():
    """run_all reads the last line starting with ``{``: a script must not print indented JSON."""
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    assert len(scripts) >= 8
    for script in scripts:
        assert "indent=" not in script.read_text(), f"{script.name} prints multi-line JSON"

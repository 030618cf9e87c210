"""Kill ``fourm label`` after its first output shard, rerun it: exactly the input keys, once each."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fourm_cli.app import build_app
from fourm_modalities.labelers.tiny import save_tiny
from fourm_registry import read_samples

from ._label_helpers import write_img2dataset_shard


@pytest.mark.slow
def test_killed_label_run_resumes_without_loss_or_duplicates(tmp_path, runner, registry) -> None:
    model = save_tiny("depth", tmp_path / "tiny_depth")
    sizes = {"00000.tar": 3, "00001.tar": 80, "00002.tar": 3}  # a long second shard to kill inside
    keys: list[str] = []
    for j, (name, n) in enumerate(sizes.items()):
        keys += write_img2dataset_shard(tmp_path / name, [f"{j}{i:04d}" for i in range(n)],
                                        size=(64, 64), seed=j)
    out = tmp_path / "out"
    args = ["label", str(tmp_path / "{00000..00002}.tar"), "--out", str(out), "-m", "depth",
            "--model", f"depth={model}", "--batch-size", "2", "--device", "cpu", "--quiet"]
    env = {**os.environ, "FOURM_LOAD_PLUGINS": ""}
    proc = subprocess.Popen([sys.executable, "-m", "fourm_cli.app", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not (out / "00000.tar").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "first shard never appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert not (out / "00001.tar").exists() and not (out / "00002.tar").exists()
    first = (out / "00000.tar").stat().st_mtime_ns

    result = runner.invoke(build_app(registry), [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["shards_skipped"] == 1 and report["images"] == sizes["00001.tar"] + sizes["00002.tar"]
    assert (out / "00000.tar").stat().st_mtime_ns == first  # finished shard not rewritten
    got = [s["__key__"] for s in read_samples(str(out), registry)]
    assert got == keys and len(set(got)) == len(got)
    assert sorted(p.name for p in out.iterdir()) == sorted(sizes)  # no temp files or markers left

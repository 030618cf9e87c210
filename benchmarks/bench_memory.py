"""Peak RSS of ``fourm label`` and ``fourm tokenize`` jobs on 1 shard vs 10 shards.

Both jobs stream: one shard in, one shard out, so their peak memory must not grow with
the number of shards. Each measurement runs the job in a fresh process (so one job's
peak cannot hide another's) and reads that process's own ``ru_maxrss``. Inputs: 64-px
JPEG shards labelled for depth by the tiny random DPT checkpoint; the labelled shards
are then tokenised by a small random RGB VQ tokenizer.

    .venv/bin/python benchmarks/bench_memory.py --shards 10 --per-shard 16
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SIZE = 64
TARGET = 1.10  # 10 shards' peak RSS / 1 shard's


def _registry() -> Any:
    from fourm_registry import Registry

    return Registry.build(allow=[]).with_overrides({"rgb": {"image_size": SIZE, "patch_size": 8}})


def _pattern(folder: Path, count: int) -> str:
    return str(folder / "00000.tar") if count == 1 else f"{folder}/{{00000..{count - 1:05d}}}.tar"


def child(job: str, root: Path, count: int) -> dict[str, float]:
    """Run one job over the first ``count`` shards; report this process's peak RSS."""
    import torch

    torch.set_num_threads(1)
    reg = _registry()
    out = Path(tempfile.mkdtemp(dir=root))
    if job == "label":
        from fourm_registry.labeling.inputs import tar_sources
        from fourm_registry.labeling import build_labelers, label_shards

        labelers = build_labelers(reg, ["depth"], "cpu", models={"depth": str(root / "dpt")})
        label_shards(tar_sources(_pattern(root / "images", count)), out, labelers, reg,
                     image_field="rgb", caption_field="caption", batch_size=8, progress=False)
    else:
        from fourm_registry.tokenizers import load_tokenizers
        from fourm_registry.tokenizers.tokenize_job import tokenize_shards

        tokenizers = load_tokenizers(root / "tokenizers", reg, ["rgb"])
        tokenize_shards(_pattern(root / "labelled", count), tokenizers, reg, out, batch_size=16)
    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def prepare(root: Path, shards: int, per_shard: int) -> None:
    """Image shards, their depth-labelled versions (one run), and a saved RGB tokenizer."""
    from fourm_modalities.labelers.tiny import save_tiny
    from fourm_registry.labeling.inputs import tar_sources
    from fourm_registry.labeling import build_labelers, label_shards

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_label import write_input

    (root / "images").mkdir()
    for j in range(shards):
        write_input(root / "images" / f"{j:05d}.tar", per_shard, SIZE)
    save_tiny("depth", root / "dpt")
    reg = _registry()
    labelers = build_labelers(reg, ["depth"], "cpu", models={"depth": str(root / "dpt")})
    label_shards(tar_sources(_pattern(root / "images", shards)), root / "labelled", labelers, reg,
                 image_field="rgb", caption_field="caption", batch_size=8, progress=False)
    spec = reg.get_modality("rgb")
    tok = spec.tokenizer.factory.fresh(spec, channels=[16, 16, 32, 32], norm_num_groups=8, pixels_per_token=8)
    tok.save_pretrained(root / "tokenizers" / "rgb")


def measure(job: str, root: Path, count: int) -> float:
    proc = subprocess.run([sys.executable, __file__, "--child", job, str(root), str(count)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{job} on {count} shards failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--per-shard", type=int, default=16)
    parser.add_argument("--child", nargs=3, metavar=("JOB", "ROOT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = child(args.child[0], Path(args.child[1]), int(args.child[2]))
        print(json.dumps(figures))
        return figures
    out: dict[str, Any] = {"shards": args.shards, "images_per_shard": args.per_shard, "image_px": SIZE}
    targets = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepare(root, args.shards, args.per_shard)
        for job in ("label", "tokenize"):
            one, many = measure(job, root, 1), measure(job, root, args.shards)
            ratio = round(many / one, 3)
            out[f"{job}_peak_rss_mib_1_shard"] = round(one, 1)
            out[f"{job}_peak_rss_mib_{args.shards}_shards"] = round(many, 1)
            targets[f"{job}_rss_{args.shards}_vs_1_shard"] = {"value": ratio, "target": f"<= {TARGET}",
                                                              "met": ratio <= TARGET}
    out["targets"] = targets
    print(json.dumps(out))  # one line: benchmarks/run_all.py reads the last JSON line
    return out


if __name__ == "__main__":
    main()

"""Check that apple/ml-4m's own code loads the 4M checkpoints ``fourm convert --to ml4m`` writes
(not part of ``make bench``; needs an ml-4m checkout and a venv with its dependencies).

    fourm convert --to fourm tests/fixtures/ml4m/fm-small /tmp/conv/fourm
    fourm convert --to ml4m /tmp/conv/fourm /tmp/conv/ml4m
    ML4M_ROOT=/work/ml4m python benchmarks/ml4m_reads_fourm_models.py \\
        --original tests/fixtures/ml4m/fm-small --converted /tmp/conv/ml4m --generator ../shared/ref4m/generate

ml-4m loads the converted directory twice, with ``load_safetensors`` + ``FM(config)`` +
``load_state_dict`` (strict) and with ``FM.from_pretrained``; prints one JSON line saying
whether every tensor equals the original's and whether the tied ``mod_emb`` pairs are tied.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--original", type=Path, required=True)
    ap.add_argument("--converted", type=Path, required=True)
    ap.add_argument("--generator", type=Path, required=True, help="../shared/ref4m/generate")
    args = ap.parse_args()
    sys.path.insert(0, str(args.generator))
    import make_fixtures as mf  # the fixture generator's vocabulary override (shrunk vocabularies)
    import torch
    from ml4m_import import import_fourm

    ml = import_fourm(os.environ.get("ML4M_ROOT", "ml-4m"))
    cases = json.loads((args.original / "cases.json").read_text())
    mf.apply_vocab_override(ml.MODALITY_INFO, cases["model"]["vocab_sizes"])
    ref, ref_cfg = ml.load_safetensors(str(args.original / "model.safetensors"))
    ckpt, cfg = ml.load_safetensors(str(args.converted / "model.safetensors"))
    model = ml.FM(config=cfg)
    model.load_state_dict(ckpt)  # strict
    hub = ml.FM.from_pretrained(str(args.converted)).state_dict()
    tied = cases["model"]["tied_state_dict_keys"]
    print(json.dumps({
        "config_equal": cfg == ref_cfg and json.loads((args.converted / "config.json").read_text())
        == json.loads((args.original / "config.json").read_text()),
        "same_keys": set(ckpt) == set(ref),
        "strict_load_equal": all(torch.equal(v, ref[k]) for k, v in model.state_dict().items()),
        "from_pretrained_equal": all(torch.equal(v, ref[k]) for k, v in hub.items()),
        "tied_pairs_tied": all(hub[a].data_ptr() == hub[b].data_ptr() for a, b in tied),
        "tensors": len(ckpt),
    }))


if __name__ == "__main__":
    main()

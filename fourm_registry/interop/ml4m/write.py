"""Writing a fourm model in the released ml-4m layout, which ml-4m's ``FM.from_pretrained`` loads.

``config.json`` has the official keys in the official order; ``model.safetensors`` holds every
state-dict key ml-4m's ``FM(config)`` has (tied ``mod_emb`` pairs twice, zero LayerNorm bias
buffers, the image decoders' ``token_emb``), with the config as string metadata as ml-4m's
``save_safetensors`` writes it. A model loaded from that layout is written back tensor for
tensor, byte for byte; a fourm-trained one needs modalities whose plugins declare a domain.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ...errors import FourmError
from ...model.persistence import CONFIG_NAME, WEIGHTS_NAME, atomic_write
from ...spec import ModalityKind
from . import keys
from .domains import domain_name

_ACT_NAMES = {"silu": "SiLU", "gelu": "GELU"}


def _ordered(model: Any, side: str) -> list[tuple[str, str]]:
    """``(domain, modality)`` on one side, in the recorded ml-4m order (else the model's)."""
    key = "ml4m_in" if side == "in" else "ml4m_out"
    rows = []
    for i, (name, spec) in enumerate(model.specs.items()):
        if side == "out" and name not in model.decoder_embeddings:
            continue
        index = spec.extras.get(key, i)
        if index is not None:
            rows.append((index, domain_name(spec), name))
    return [(d, n) for _, d, n in sorted(rows)]


def official_config(model: Any) -> dict[str, Any]:
    cfg = model.config
    if not cfg.share_modality_embeddings:
        raise FourmError("ml-4m ties every encoder/decoder mod_emb pair; this model has "
                         "share_modality_embeddings=false.")
    grids = [s.tokenizer for s in model.specs.values() if s.kind.is_grid and s.tokenizer.image_size]
    common = Counter((t.image_size, t.patch_size) for t in grids).most_common(1)
    image_size, patch_size = common[0][0] if common else (224, 16)
    ratio = cfg.mlp_ratio
    return {"domains_in": [d for d, _ in _ordered(model, "in")],
            "domains_out": [d for d, _ in _ordered(model, "out")],
            "encoder_depth": cfg.encoder_depth, "decoder_depth": cfg.decoder_depth, "dim": cfg.dim,
            "num_heads": cfg.num_heads, "mlp_ratio": int(ratio) if float(ratio).is_integer() else ratio,
            "qkv_bias": cfg.qkv_bias, "proj_bias": cfg.proj_bias, "mlp_bias": cfg.mlp_bias,
            "norm_bias": cfg.norm_bias, "act_layer": _ACT_NAMES[cfg.act], "gated_mlp": cfg.gated_mlp,
            "image_size": image_size, "patch_size": patch_size,
            **({"qk_norm": True} if cfg.qk_norm else {})}


def official_tensors(model: Any) -> dict[str, torch.Tensor]:
    """Every tensor ml-4m's ``FM`` has, under its names, as independent contiguous copies."""
    ins = {n: d for d, n in _ordered(model, "in")}
    outs = {n: d for d, n in _ordered(model, "out")}
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        parts = keys.split(key)
        if parts is not None:
            side, name, rest = parts
            table = ins if side == "encoder_embeddings" else outs
            if name not in table:
                continue  # a side ml-4m does not build for this domain
            key = f"{side}.{table[name]}.{rest}"
        out[key] = value.detach().clone().contiguous()
    for name, domain in outs.items():  # ml-4m's image decoders carry an (unused) token_emb
        spec = model.specs[name]
        key = f"decoder_embeddings.{domain}.token_emb.weight"
        if spec.kind is not ModalityKind.SEQUENCE and key not in out:
            head = out[f"decoder_embeddings.{domain}.to_logits.weight"]
            out[key] = torch.zeros_like(head)
    keys.add_norm_biases(out, model)
    return out


def save_official(model: Any, directory: str | Path) -> Path:
    """Write ``config.json`` + ``model.safetensors`` in the ml-4m layout (each file atomically)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = official_config(model)
    tensors = official_tensors(model)
    metadata = {k: str(v) for k, v in config.items()}
    atomic_write(out / WEIGHTS_NAME, lambda p: save_file(tensors, p, metadata=metadata))
    atomic_write(out / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(config)))
    return out

"""Opening a released 4M model (``EPFL-VILAB/4M-7_B_CC12M``, ``4M-21_XL``, …): ``config.json`` +
``model.safetensors`` as ml-4m's ``FM`` writes them, built into a fourm :class:`FourM`.

Sizes come from the files: vocabularies from the ``token_emb``/``to_logits`` shapes, grids from
the ``pos_emb`` lengths, the SwiGLU width from ``fc1``; depths, width and heads from the config.
Each domain is answered by the modality plugin that declares it (``ModalitySpec.domains``).
What fourm has no use for but a round trip needs is kept: the image decoders' ``token_emb``
(frozen), the untied caption heads (``tie_sequence_embeddings=False``), and the domain names
and their order (modality ``extras``: ``ml4m_domain``, ``ml4m_in``, ``ml4m_out``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ...config import validate_config
from ...errors import FourmError
from ...model.config import FourMConfig
from ...model.persistence import WEIGHTS_NAME, build, with_aliases
from ...spec import ModalityKind, ModalitySpec
from . import domains as dom
from . import keys

REQUIRED = ("domains_in", "domains_out", "dim", "encoder_depth", "decoder_depth", "num_heads")
_ACTS = {"SiLU": "silu", "GELU": "gelu"}
_UNSUPPORTED = {"num_register_tokens": 0, "decoder_causal_mask": False, "decoder_sep_mask": True}


def is_official_config(config: Mapping[str, Any]) -> bool:
    return all(k in config for k in REQUIRED)


def _shape(tensors: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...] | None:
    t = tensors.get(key)
    return tuple(t.shape) if t is not None else None


def _width(dim: int, ratio: float, gated: bool) -> int:
    hidden = int(dim * ratio)
    return int(2 * hidden / 3) if gated else hidden


def _mlp_ratio(dim: int, hidden: int, gated: bool, stated: float) -> float:
    """The config's ``mlp_ratio`` if it gives the file's MLP width, else one that does."""
    if _width(dim, stated, gated) == hidden:
        return stated
    if not gated:
        return hidden / dim
    for full in range(math.floor(1.5 * hidden), math.ceil(1.5 * (hidden + 1)) + 1):
        if int(2 * full / 3) == hidden:
            ratio = full / dim
            if _width(dim, ratio, gated) == hidden:
                return ratio
    raise FourmError(f"No mlp_ratio gives a SwiGLU width of {hidden} at dim {dim}.")


def model_config(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], source: str) -> FourMConfig:
    for key, default in _UNSUPPORTED.items():
        if config.get(key, default) != default:
            raise FourmError(f"{source}: {key}={config[key]!r} is not supported by fourm's model.")
    act = config.get("act_layer", "SiLU")
    if act not in _ACTS:
        raise FourmError(f"{source}: act_layer {act!r} is not supported (known: {', '.join(_ACTS)}).")
    dim, gated = int(config["dim"]), bool(config.get("gated_mlp", False))
    fc1 = _shape(tensors, "encoder.0.mlp.fc1.weight") or _shape(tensors, "decoder.0.mlp.fc1.weight")
    stated = float(config.get("mlp_ratio", 4.0))
    ratio = stated if fc1 is None else _mlp_ratio(dim, fc1[0], gated, stated)
    qk_norm = bool(config.get("qk_norm", False)) or any(k.endswith("attn.q_norm.weight") for k in tensors)
    cfg = {"dim": dim, "encoder_depth": int(config["encoder_depth"]),
           "decoder_depth": int(config["decoder_depth"]), "num_heads": int(config["num_heads"]),
           "mlp_ratio": ratio, "gated_mlp": gated, "act": _ACTS[act],
           "qkv_bias": bool(config.get("qkv_bias", True)), "proj_bias": bool(config.get("proj_bias", True)),
           "mlp_bias": bool(config.get("mlp_bias", True)), "norm_bias": bool(config.get("norm_bias", True)),
           "norm_eps": 1e-6, "qk_norm": qk_norm, "share_modality_embeddings": True,
           "tie_sequence_embeddings": False}
    return validate_config(FourMConfig, cfg, f"{source} (ml-4m config)")


def _sizes(spec: ModalitySpec, domain: str, named: Mapping[str, int], tensors: Mapping[str, torch.Tensor],
           config: Mapping[str, Any]) -> dict[str, Any]:
    """Tokenizer sizes of ``spec`` for this checkpoint, read from the tensors."""
    enc, dec = f"encoder_embeddings.{domain}", f"decoder_embeddings.{domain}"
    out: dict[str, Any] = {}
    vocab = _shape(tensors, f"{enc}.token_emb.weight") or _shape(tensors, f"{dec}.to_logits.weight")
    if vocab is not None and spec.kind is not ModalityKind.PIXELS:
        out["vocab_size"] = vocab[0]
    pos = _shape(tensors, f"{enc}.pos_emb") or _shape(tensors, f"{dec}.pos_emb")
    if spec.kind is ModalityKind.SEQUENCE or spec.kind is ModalityKind.EMBEDDING:
        if pos is not None:
            out["max_length"] = pos[1]
        return out
    size = int(named.get("image_size", spec.tokenizer.image_size or config.get("image_size", 224)))
    if spec.kind is ModalityKind.PIXELS:
        proj = _shape(tensors, f"{enc}.proj.weight")
        channels = int(spec.extras.get("channels", 3))
        patch = round(math.sqrt(proj[1] / channels)) if proj else int(config.get("patch_size", 16))
    elif pos is not None:
        patch = round(size / math.sqrt(pos[1]))
    else:
        patch = int(config.get("patch_size", spec.tokenizer.patch_size or 16))
    out.update(image_size=size, patch_size=patch)
    return out


def plan_modalities(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], registry: Any,
                    source: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``domain → modality`` and the per-modality overrides (sizes + ml-4m extras)."""
    dins, douts = list(config["domains_in"]), list(config["domains_out"])
    names: dict[str, str] = {}
    overrides: dict[str, dict[str, Any]] = {}
    hits = {d: dom.resolve(registry, d) for d in dict.fromkeys([*dins, *douts])}
    for domain, hit in hits.items():
        spec = registry.get_modality(hit.modality)
        name, base = hit.modality, None
        if _aliased(domain, hits, spec):  # the same modality at a second size (4M-SR: tok_rgb@224 and @448)
            name, base = f"{hit.modality}_{hit.sizes.get('image_size', len(overrides))}", hit.modality
            if name in overrides or name in registry.modalities:
                raise FourmError(f"{source}: domains {names_of(names, hit.modality)} and {domain!r} are "
                                 f"both modality {hit.modality!r} at one size.")
        if spec.input_only and domain in douts:
            raise FourmError(f"{source}: domain {domain!r} is an output but {hit.modality!r} is input-only.")
        sizes = _sizes(spec, domain, hit.sizes, tensors, config)
        extras = {"ml4m_domain": domain, "ml4m_in": dins.index(domain) if domain in dins else None,
                  "ml4m_out": douts.index(domain) if domain in douts else None,
                  **({"alias_of": base} if base else {})}
        if spec.kind.is_grid and f"decoder_embeddings.{domain}.token_emb.weight" in tensors:
            extras["decoder_token_emb"] = True
        if spec.kind is ModalityKind.SEQUENCE and domain in dins:
            extras["encoder_sees_start"] = True  # ml-4m masks a whole sequence to the input "[S_1]"
        names[domain] = name
        overrides[name] = {**sizes, "extras": extras}
    return names, overrides


def _aliased(domain: str, hits: Mapping[str, dom.DomainMatch], spec: ModalitySpec) -> bool:
    """Whether ``domain`` takes a second name: its modality is in the model more than once and this
    is not the domain at the plugin's own size (or, if none is, the first of them)."""
    same = [d for d, h in hits.items() if h.modality == hits[domain].modality]
    if len(same) == 1:
        return False
    default = [d for d in same if hits[d].sizes.get("image_size") == spec.tokenizer.image_size]
    return domain != (default or same)[0]


def names_of(names: Mapping[str, str], modality: str) -> list[str]:
    return [d for d, m in names.items() if m == modality]


def load_official(cls: type, directory: Path, registry: Any, *, device: str = "cpu") -> Any:
    """Build ``cls`` (FourM) from an ml-4m directory; every tensor of the file lands in the model."""
    import json

    source = str(directory)
    config = json.loads((directory / "config.json").read_text())
    tensors = load_file(str(directory / WEIGHTS_NAME))
    names, overrides = plan_modalities(config, tensors, registry, source)
    reg = with_aliases(registry, overrides).with_overrides(overrides)
    model = build(cls, model_config(config, tensors, source), reg, list(overrides))
    state = keys.rename(tensors, names)
    keys.drop_norm_biases(state, model, source)
    for name in model.decoder_embeddings:
        enc_key, dec_key = f"encoder_embeddings.{name}.mod_emb", f"decoder_embeddings.{name}.mod_emb"
        if enc_key in state and dec_key in state and not torch.equal(state[enc_key], state[dec_key]):
            raise FourmError(f"{source}: the encoder and decoder mod_emb of {name!r} differ; ml-4m ties them.")
    expected = model.state_dict()
    fresh = {k for k in expected if _side_missing(k, overrides)}
    missing = sorted(set(expected) - set(state) - fresh)
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise FourmError(f"{source}: tensors do not match the model built from config.json: missing "
                         f"{missing[:4]}, unexpected {unexpected[:4]}, wrong shape {wrong[:4]}.")
    model.load_state_dict(state, strict=False)
    return model.to(torch.device(device))


def _side_missing(key: str, overrides: Mapping[str, Mapping[str, Any]]) -> bool:
    """A side ml-4m did not build for a modality (encoder of an output-only domain, or the reverse):
    fourm builds it, freshly initialised, and the writer leaves it out again."""
    parts = keys.split(key)
    if parts is None or parts[1] not in overrides:
        return False
    extras = overrides[parts[1]]["extras"]
    return extras["ml4m_in" if parts[0] == "encoder_embeddings" else "ml4m_out"] is None

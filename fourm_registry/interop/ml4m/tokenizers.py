"""Opening a released 4M tokenizer: a directory with ``config.json`` + ``model.safetensors``
(what ml-4m's ``save_pretrained`` writes) or a hub id such as ``EPFL-VILAB/4M_tokenizers_<name>``.

Widths, depths, grids and codebook sizes are read from the checkpoint's tensors, never from
the type string (``vit_b_enc`` may hold any width); heads are ``dim / 64`` as in every
official preset. The weights load with ``strict=True``.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ...errors import FourmError

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HEAD_DIM = 64


def read_config(path: str | Path) -> dict[str, Any] | None:
    """The ml-4m tokenizer config in ``path`` (``None`` if it is not one)."""
    f = Path(path) / CONFIG_FILE
    if not f.is_file():
        return None
    try:
        cfg = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(cfg, dict) and isinstance(cfg.get("config"), dict):
        cfg = {**cfg, **cfg.pop("config")}
    return cfg if isinstance(cfg, dict) and "enc_type" in cfg and "quant_type" in cfg else None


def is_released_tokenizer(path: str | Path) -> bool:
    """True for a directory in the released layout (ml-4m config keys + safetensors)."""
    p = Path(path)
    return p.is_dir() and (p / WEIGHTS_FILE).is_file() and read_config(p) is not None


def is_released_source(source: str | Path) -> bool:
    """A released-layout directory, or a hub id (``owner/name``) that is not a local path."""
    p = Path(source).expanduser()
    if p.exists():
        return is_released_tokenizer(p)
    text = str(source)
    return bool(_HUB_ID.match(text)) and not text.startswith((".", "/", "~"))


def resolve(source: str | Path) -> Path:
    """A local directory as it is; a hub id downloaded (config + weights only) to the HF cache."""
    p = Path(source).expanduser()
    if p.is_dir():
        return p
    text = str(source)
    if not _HUB_ID.match(text) or text.startswith((".", "/", "~")):
        raise FourmError(f"Tokenizer {text!r} is neither a directory nor a hub id (owner/name).")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=text, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE]))
    except Exception as exc:  # network, auth, missing repo
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FourmError(f"Tokenizer {text!r} is no local directory, and the hub gave no such repo ({first}).") from exc


def _count(state: dict[str, Any], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def _vit_size(state: dict[str, Any], part: str) -> Any:
    from ...tokenizers.released import ViTSize

    pos = state[f"{part}.pos_emb"]
    dim = pos.shape[1]
    hidden = state[f"{part}.blocks.0.mlp.fc1.weight"].shape[0] if f"{part}.blocks.0.mlp.fc1.weight" in state \
        else 4 * dim
    return ViTSize(dim=dim, depth=_count(state, f"{part}.blocks."), heads=max(1, dim // HEAD_DIM),
                   hidden=hidden, grid=(int(pos.shape[2]), int(pos.shape[3])))


def _mlp_size(state: dict[str, Any], part: str, type_id: str) -> Any:
    from ...tokenizers.released import MlpSize, parse_mlp_id

    size = parse_mlp_id(type_id)
    found = MlpSize(blocks=_count(state, f"{part}.blocks."),
                    width=state[f"{part}.linear_in.weight"].shape[0],
                    expansion=state[f"{part}.blocks.0.block.0.weight"].shape[0] //
                    state[f"{part}.linear_in.weight"].shape[0] if f"{part}.blocks.0.block.0.weight" in state else 4)
    if found != size:
        raise FourmError(f"{part} type {type_id!r} does not match its weights ({found}).")
    return size


def architecture(cfg: dict[str, Any], state: dict[str, Any]) -> Any:
    """The :class:`Architecture` of a released tokenizer from its config and tensor shapes."""
    from ...tokenizers.released import Architecture
    from ...tokenizers.released.diffusion import DiffusionSettings
    from ...tokenizers.released.unet import infer_unet_size

    enc_type, dec_type = str(cfg.get("enc_type", "")), str(cfg.get("dec_type", ""))
    n_channels, latent = int(cfg.get("n_channels", 3)), state["quant_proj.weight"].shape[0]
    if "vit" in enc_type:
        encoder = _vit_size(state, "encoder")
    elif "MLP" in enc_type:
        encoder = _mlp_size(state, "encoder", enc_type)
    else:
        raise FourmError(f"Released tokenizer encoder {enc_type!r} is not supported.")
    quant = cfg.get("quant_type", "lucid")
    if quant == "memcodes":
        heads, size = state["quantize.codes"].shape[:2]
    elif quant == "lucid":
        heads, size = 1, state["quantize._codebook.embed"].shape[0]
    else:
        raise FourmError(f"Released tokenizer quantizer {quant!r} is not supported.")
    if "unet" in dec_type:
        kind, decoder = "divae", infer_unet_size(state, n_channels, latent)
    elif "vit" in dec_type:
        kind, decoder = "vqvae", _vit_size(state, "decoder")
    elif "MLP" in dec_type:
        kind, decoder = "vqvae", _mlp_size(state, "decoder", dec_type)
    else:
        raise FourmError(f"Released tokenizer decoder {dec_type!r} is not supported.")
    patch_proj = bool(cfg.get("patch_proj", True))
    patch, patch_dec = int(cfg.get("patch_size", 16)), None
    if patch_proj and "encoder.proj.weight" in state:  # the kernel is the patch
        patch = int(state["encoder.proj.weight"].shape[-1])
    if patch_proj and "decoder.out_proj.weight" in state:
        out_ch = int(cfg.get("n_labels") or n_channels)
        patch_dec = math.isqrt(state["decoder.out_proj.weight"].shape[0] // out_ch)
    return Architecture(
        kind=kind, n_channels=n_channels, latent_dim=latent, codebook_size=int(size), encoder=encoder,
        decoder=decoder, n_labels=cfg.get("n_labels"), patch_size=patch,
        patch_size_dec=patch_dec if patch_dec != patch else None, patch_proj=patch_proj, post_mlp="encoder.post_mlp.fc1.weight" in state,
        out_conv=any(k.startswith("decoder.out_conv.") for k in state), quant_type=quant,
        num_codebooks=int(heads), diffusion=DiffusionSettings.from_config(cfg), config=dict(cfg))


def load_released_tokenizer(source: str | Path, device: str = "cpu") -> Any:
    """The released tokenizer at ``source`` (directory or hub id), in eval mode, loaded strictly."""
    from safetensors.torch import load_file

    from ...tokenizers.released import ReleasedDiVAE, ReleasedVQVAE

    path = resolve(source)
    cfg = read_config(path)
    if cfg is None or not (path / WEIGHTS_FILE).is_file():
        raise FourmError(f"{path} is not a released 4M tokenizer (needs an ml-4m {CONFIG_FILE} and {WEIGHTS_FILE}).")
    try:
        state = load_file(str(path / WEIGHTS_FILE), device=device)
    except Exception as exc:  # safetensors raises its own error type for damaged files
        raise FourmError(f"{path / WEIGHTS_FILE} is not a readable safetensors file: {exc}") from exc
    try:
        arch = architecture(cfg, state)
        model = (ReleasedDiVAE if arch.kind == "divae" else ReleasedVQVAE)(arch)
        model.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise FourmError(f"{path}: the weights do not fit a released 4M tokenizer: {str(exc)[:300]}") from exc
    return model.to(device).eval()


def save_released_tokenizer(model: Any, path: str | Path) -> None:
    """Write ``model`` in the released layout (config kwargs + safetensors with the config as metadata)."""
    from safetensors.torch import save_file

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    cfg = dict(model.arch.config)
    (out / CONFIG_FILE).write_text(json.dumps(cfg, sort_keys=True, indent=2))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={k: str(v) for k, v in cfg.items()})

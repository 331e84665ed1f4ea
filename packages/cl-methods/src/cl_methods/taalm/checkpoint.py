"""Saving and loading a Train-Attention phi: its trainable tensors (LoRA + head) in safetensors,
and a JSON file naming the backbone and the LoRA settings needed to rebuild it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import jsonsafe
from ..state_io import save_safetensors
from .loading import Quantization, load_causal_lm
from .model import LoraSettings, TrainAttention

WEIGHTS = "train_attention.safetensors"
META = "train_attention.json"


def save_train_attention(
    phi: TrainAttention,
    path: str | os.PathLike[str],
    *,
    backbone: str,
    lora: LoraSettings | None,
    adapter: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``path/train_attention.{safetensors,json}``; ``backbone`` is the hub id or folder
    the backbone is loaded from, ``lora`` the fresh LoRA's settings or ``adapter`` the published
    adapter phi started from. Files are written under temporary names, then renamed."""

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {n: p.detach().to("cpu").contiguous() for n, p in phi.trainable_parameters().items()}
    meta = {
        "backbone": backbone,
        "lora": None if lora is None else lora.to_dict(),
        "adapter": adapter,
        "hidden_size": phi.head.in_features,
        "trainable": sorted(tensors),
        "extra": extra or {},
    }
    save_safetensors(tensors, path / (WEIGHTS + ".tmp"))
    (path / (META + ".tmp")).write_text(jsonsafe.dumps(meta, indent=2))
    (path / (WEIGHTS + ".tmp")).replace(path / WEIGHTS)
    (path / (META + ".tmp")).replace(path / META)
    return path


def read_train_attention_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    meta_path = Path(path) / META
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: not a Train-Attention checkpoint folder")
    return json.loads(meta_path.read_text())


def load_train_attention_weights(phi: TrainAttention, path: str | os.PathLike[str]) -> None:
    """Copy saved trainable tensors into ``phi``; every trainable tensor must be present."""
    from safetensors.torch import load_file

    tensors = load_file(str(Path(path) / WEIGHTS))
    params = phi.trainable_parameters()
    missing = sorted(set(params) - set(tensors))
    unexpected = sorted(set(tensors) - set(params))
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {path} does not match phi: missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[name].to(p.dtype))


def load_train_attention(
    path: str | os.PathLike[str],
    *,
    backbone_loader: Callable[[str], nn.Module] | None = None,
    quantization: Quantization = "auto",
    device: str | torch.device | None = None,
) -> TrainAttention:
    """Rebuild phi from its checkpoint folder (frozen, in eval mode, ready for deployment).

    ``backbone_loader(name)`` returns the causal LM named in the checkpoint, already placed on its
    device; the default loads it with :func:`load_causal_lm` (fp32 compute, as in the paper).
    """
    meta = read_train_attention_meta(path)
    loader = backbone_loader or (
        lambda name: load_causal_lm(
            name, quantization=quantization, compute_dtype=torch.float32, device=device
        )
    )
    lm = loader(meta["backbone"])
    lora = None if meta["lora"] is None else LoraSettings.from_dict(meta["lora"])
    phi = TrainAttention.from_causal_lm(lm, lora=lora, adapter=meta.get("adapter"))
    load_train_attention_weights(phi, path)
    return freeze(phi)


def freeze(phi: TrainAttention) -> TrainAttention:
    """eval() and no gradients: deployment uses phi's weights as constants."""
    phi.eval()
    for p in phi.parameters():
        p.requires_grad_(False)
    return phi

"""Stacked task adapters in PEFT's format: ``adapter_config.json`` + ``adapter_model.safetensors``.

A folder written by :func:`save_peft_adapter` opens with ``peft.PeftModel.from_pretrained(base,
folder)`` (``base``: the model before any adapter was attached) and computes what the library's
layer computes for the adapters it holds:

- ``which="task"`` with ``task=k``: the k-th stacked task adapter alone (``task=None``: the
  current, trainable one);
- ``which="stack"``: every stacked task adapter (plus the current one with ``include_new``) as ONE
  LoRA adapter of rank ``r_sum``: ``sum_k s B_k A_k = s [B_0 .. B_k] [A_0; ..; A_k]``, i.e. the
  model after the last task.

Keys are PEFT's: ``base_model.model.<module>.lora_A.weight`` ([r, d_in]) and ``...lora_B.weight``
([d_out, r]); ``lora_alpha = s * r`` keeps PEFT's scale ``lora_alpha / r`` equal to the
library's ``s = alpha / r_config``; ``target_modules`` lists the adapted modules' full names.
:func:`load_peft_adapter` reads such a folder (or any PEFT LoRA folder of the same modules)
back into a stacked model, rescaling B when the folder's scale differs from the layer's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file
from torch import nn

from ..state_io import save_safetensors
from .inject import stacked_lora_layers
from .stacked_lora import StackedLoRALinear

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PREFIX = "base_model.model."


def peft_task_type(model: nn.Module) -> str | None:
    """PEFT's task type for a transformers model: seq2seq LM, causal LM, or None (a bare
    backbone, opened as a plain ``PeftModel``)."""
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "is_encoder_decoder", False):
        return "SEQ_2_SEQ_LM"
    heads = getattr(model, "get_output_embeddings", None)
    if callable(heads) and hasattr(model, "generate") and heads() is not None:
        return "CAUSAL_LM"
    return None


def _pieces(
    layer: StackedLoRALinear, which: str, task: int | None, include_new: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if which == "task":
        return (layer.lora_A, layer.lora_B) if task is None else layer.task_slice(task)
    a = [layer.lora_A_old] + ([layer.lora_A] if include_new else [])
    b = [layer.lora_B_old] + ([layer.lora_B] if include_new else [])
    return torch.cat([t.detach().float() for t in a], 0), torch.cat(
        [t.detach().float() for t in b], 1
    )


def save_peft_adapter(
    model: nn.Module,
    folder: str | Path,
    *,
    which: Literal["task", "stack"] = "task",
    task: int | None = None,
    include_new: bool = False,
    task_type: str | None = None,
    base_model_name_or_path: str | None = None,
) -> Path:
    """Write the chosen adapter of ``model``'s stacked layers as a PEFT LoRA folder (module names
    relative to ``model``: pass the backbone of a heads model). Returns the folder."""
    from peft import LoraConfig

    layers = stacked_lora_layers(model)
    if not layers:
        raise ValueError("the model has no stacked adapters to save")
    if which not in ("task", "stack"):
        raise ValueError(f"which must be 'task' or 'stack', got {which!r}")
    tensors, ranks = {}, set()
    first = next(iter(layers.values()))
    for name, layer in layers.items():
        a, b = _pieces(layer, which, task, include_new)
        if a.shape[0] == 0:
            raise ValueError(f"nothing to save: {name} holds no {which} adapter yet")
        ranks.add(int(a.shape[0]))
        tensors[f"{PREFIX}{name}.lora_A.weight"] = a.detach().float().contiguous().cpu().clone()
        tensors[f"{PREFIX}{name}.lora_B.weight"] = b.detach().float().contiguous().cpu().clone()
    if len(ranks) != 1:
        raise ValueError(f"adapted layers have different ranks {sorted(ranks)}")
    r = ranks.pop()
    config = LoraConfig(
        r=r,
        lora_alpha=first.scale * r,
        lora_dropout=first.dropout,
        target_modules=sorted(layers),
        bias="none",
        task_type=task_type if task_type is not None else peft_task_type(model),
        base_model_name_or_path=base_model_name_or_path,
        inference_mode=True,
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(folder))
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_safetensors(tensors, tmp, metadata={"format": "pt"})
    tmp.replace(folder / WEIGHTS_FILE)
    return folder


def read_peft_adapter(
    folder: str | Path,
) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """``(config, {module: (A, B)}, scale)`` of a PEFT LoRA folder; clear errors otherwise."""
    folder = Path(folder)
    cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not cfg_path.is_file() or not weights.is_file():
        raise FileNotFoundError(
            f"{folder}: not a PEFT adapter folder ({CONFIG_FILE} + {WEIGHTS_FILE})"
        )
    config = json.loads(cfg_path.read_text())
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{cfg_path}: peft_type {config.get('peft_type')!r}, expected 'LORA'")
    if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("use_dora"):
        raise ValueError(f"{cfg_path}: rank/alpha patterns and DoRA are not supported")
    r, alpha = int(config["r"]), float(config["lora_alpha"])
    scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(weights)).items():
        if not key.startswith(PREFIX) or not key.endswith(".weight"):
            raise ValueError(f"{weights}: unexpected tensor {key!r}")
        module, _, part = key[len(PREFIX) : -len(".weight")].rpartition(".")
        if part not in ("lora_A", "lora_B"):
            raise ValueError(f"{weights}: unexpected tensor {key!r}")
        pairs.setdefault(module, {})[part] = value
    out = {}
    for module, parts in pairs.items():
        if set(parts) != {"lora_A", "lora_B"}:
            raise ValueError(f"{weights}: {module} lacks lora_A or lora_B")
        out[module] = (parts["lora_A"], parts["lora_B"])
    return config, out, scale


def load_peft_adapter(
    model: nn.Module, folder: str | Path, into: Literal["stack", "new"] = "stack"
) -> None:
    """Load a PEFT LoRA folder into ``model``'s stacked layers: ``into="stack"`` appends it to
    the frozen stack (one entry of its rank), ``"new"`` copies it into the trainable adapter.
    Every adapted module must be in the folder and nothing else."""
    if into not in ("stack", "new"):
        raise ValueError(f"into must be 'stack' or 'new', got {into!r}")
    _, pairs, scale = read_peft_adapter(folder)
    layers = stacked_lora_layers(model)
    missing, unexpected = set(layers) - set(pairs), set(pairs) - set(layers)
    if missing or unexpected:
        raise ValueError(
            f"{folder}: adapter modules do not match the model's adapters "
            f"(missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]})"
        )
    for name, layer in layers.items():
        a, b = pairs[name]
        b = b.float() * (scale / layer.scale)  # same delta W under the layer's own scale
        if into == "stack":
            layer.push_task(a, b)
            continue
        if a.shape != layer.lora_A.shape or b.shape != layer.lora_B.shape:
            raise ValueError(f"{folder}: {name} adapter shape does not match the model's")
        with torch.no_grad():
            layer.lora_A.copy_(a)
            layer.lora_B.copy_(b)

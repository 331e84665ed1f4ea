"""Attach stacked adapters to the targeted ``nn.Linear`` modules of any model, freeze the rest,
and export a merged model (per-task adapters are saved in PEFT's format: :mod:`.peft_format`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .stacked_lora import StackedLoRALinear

WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def canonical_name(name: str) -> str:
    """Strip wrapper prefixes (DDP ``module.``, torch.compile ``_orig_mod.``) anywhere in a name."""
    parts = [p for p in name.split(".") if p not in ("module", "_orig_mod")]
    return ".".join(parts)


def unwrap_model(model: nn.Module) -> nn.Module:
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


@dataclass
class LoRAConfig:
    """Where and how to attach adapters. ``targets`` are module-name suffixes ("q" matches
    ``...SelfAttention.q``); ``target_regex`` (full-name ``re.fullmatch``) is an alternative."""

    targets: tuple[str, ...] = ("q", "v")
    target_regex: str | None = None
    r: int = 8
    alpha: float = 32.0
    dropout: float = 0.1


def _matches(name: str, cfg: LoRAConfig) -> bool:
    if cfg.target_regex is not None:
        return re.fullmatch(cfg.target_regex, name) is not None
    return any(name == t or name.endswith("." + t) for t in cfg.targets)


def attach_stacked_lora(model: nn.Module, cfg: LoRAConfig) -> dict[str, StackedLoRALinear]:
    """Replace every targeted ``nn.Linear`` by a :class:`StackedLoRALinear` (in place).

    Raises ValueError naming the targets and some Linear modules when nothing matches.
    """
    existing = stacked_lora_layers(model)
    if existing:
        raise ValueError(f"model already has {len(existing)} stacked adapters attached")
    chosen = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear) and _matches(name, cfg)
    ]
    if not chosen:
        linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        sample = ", ".join(linears[:8]) + (" ..." if len(linears) > 8 else "")
        what = f"regex {cfg.target_regex!r}" if cfg.target_regex else f"targets {cfg.targets}"
        raise ValueError(
            f"LoRA {what} match no nn.Linear module of {type(model).__name__}; "
            f"its Linear modules include: {sample or 'none'}"
        )
    attached = {}
    for name, mod in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        layer = StackedLoRALinear(mod, r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout)
        setattr(parent, child, layer)
        attached[canonical_name(name)] = layer
    return attached


def stacked_lora_layers(model: nn.Module) -> dict[str, StackedLoRALinear]:
    """Attached adapter layers by canonical module name, in module order."""
    return {
        canonical_name(n): m for n, m in model.named_modules() if isinstance(m, StackedLoRALinear)
    }


def freeze_all_but_new_adapters(model: nn.Module) -> list[nn.Parameter]:
    """Set ``requires_grad`` so that only the current adapters (A_new, B_new) train."""
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = []
    for layer in stacked_lora_layers(model).values():
        for p in (layer.lora_A, layer.lora_B):
            p.requires_grad_(True)
            trainable.append(p)
    return trainable


def append_new_adapters(model: nn.Module) -> None:
    for layer in stacked_lora_layers(model).values():
        layer.append_new()


def reset_new_adapters(model: nn.Module, seed: int | None = None) -> None:
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    for layer in stacked_lora_layers(model).values():
        layer.reset_new(generator)


@torch.no_grad()
def merge_stacked_lora(model: nn.Module, include_new: bool = True) -> nn.Module:
    """Fold every adapter into its base weight and put plain ``nn.Linear`` modules back (in place).

    The merged model computes the same function as the adapted model in eval mode.
    """
    for name, module in list(model.named_modules()):
        if not isinstance(module, StackedLoRALinear):
            continue
        base = module.base
        delta = module.delta_weight(include_new=include_new)
        base.weight.add_(delta.to(base.weight.dtype))
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, base)
    return model


def adapter_parameters(model: nn.Module) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(module name, A_new, B_new)`` for every attached layer."""
    return [(n, m.lora_A, m.lora_B) for n, m in stacked_lora_layers(model).items()]


def old_and_new_a(model: nn.Module) -> tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]]:
    """The frozen stacked A's and the current A's of every layer, in module order."""
    layers = list(stacked_lora_layers(model).values())
    return [m.lora_A_old for m in layers], [m.lora_A for m in layers]

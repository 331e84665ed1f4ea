"""The trainer's default optimizer (AdamW with ``TrainerConfig.param_groups``) and schedule."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import get_scheduler

from ..method import OptimizerFactory
from .config import TrainerConfig


def param_groups(
    cfg: TrainerConfig, model: nn.Module, params: list[nn.Parameter]
) -> list[nn.Parameter] | list[dict[str, Any]]:
    """``params`` split by ``cfg.param_groups`` name prefixes (unchanged without any)."""
    prefixes = cfg.param_groups
    if not prefixes:
        return params
    names = {id(p): n for n, p in model.named_parameters()}
    groups: dict[str, list[nn.Parameter]] = {prefix: [] for prefix in prefixes}
    rest: list[nn.Parameter] = []
    for p in params:
        name = names.get(id(p), "")
        match = next((x for x in prefixes if name == x or name.startswith(x + ".")), None)
        (groups[match] if match is not None else rest).append(p)
    out: list[dict[str, Any]] = [{"params": rest}] if rest else []
    for prefix, members in groups.items():
        if members:
            out.append({"params": members, **dict(prefixes[prefix])})
    return out


def default_optimizer(cfg: TrainerConfig, model: nn.Module, lr: float) -> OptimizerFactory:
    """What methods receive as ``default``: AdamW over the given parameters."""

    def build(params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            param_groups(cfg, model, params),
            lr=lr,
            betas=cfg.adam_betas,
            eps=cfg.adam_eps,
            weight_decay=cfg.weight_decay,
        )

    return build


def task_scheduler(cfg: TrainerConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    warmup = cfg.warmup_steps or math.ceil(cfg.warmup_ratio * total_steps)
    name = "constant_with_warmup" if cfg.lr_scheduler == "constant" else cfg.lr_scheduler
    return get_scheduler(
        name, optimizer, num_warmup_steps=warmup, num_training_steps=max(total_steps, 1)
    )


def grads_finite(params: list[nn.Parameter]) -> bool:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())

"""RecAdam (spec §9, decision D5) as the CKL optimizer.

With t the optimizer step, lambda(t) = 1 / (1 + exp(-k (t - t0))) (k = 0.5, t0 = 250), the Adam
step size lr sqrt(1 - b2^t) / (1 - b1^t) and eps = 1e-6 added to sqrt(v):

    p <- p - step * lambda * m / (sqrt(v) + eps)       # annealed Adam update
    p <- p - lr (1 - lambda) gamma (p - p*)            # pull toward p* (gamma = 5000)
    p <- p - lr wd p                                   # decoupled weight decay

p* is p when the optimizer is created. Grouping: by default every trainable tensor gets the
RecAdam terms, with wd 0.01 on matrices and 0 on biases and norms. ``grouping="reference"``
reproduces the reference: names containing bias/norm get the RecAdam terms and wd 0.01, everything
else (every LoRA matrix included) gets plain Adam (eps 1e-6) with wd 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..registry import register_method
from ..taalm.ckl_method import CklConfig, CklMethod


def anneal_lambda(step: int, k: float = 0.5, t0: float = 250.0) -> float:
    """lambda(t) = 1 / (1 + exp(-k (t - t0))), computed without overflow."""
    x = -k * (step - t0)
    if x > 0:
        e = math.exp(-x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(x))


class RecAdam(torch.optim.Optimizer):
    """Groups carry ``anneal`` (True: RecAdam terms; False: plain Adam) and ``weight_decay``."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        anneal: bool = True,
        anneal_k: float = 0.5,
        anneal_t0: float = 250.0,
        pretrain_cof: float = 5000.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "anneal": anneal,
            "anneal_k": anneal_k,
            "anneal_t0": anneal_t0,
            "pretrain_cof": pretrain_cof,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["pretrained"] = p.detach().clone()

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "step" not in state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = v.sqrt().add_(group["eps"])
                step_size = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                if group["anneal"]:
                    lam = anneal_lambda(t, group["anneal_k"], group["anneal_t0"])
                    p.addcdiv_(m, denom, value=-step_size * lam)
                    pull = lr * (1 - lam) * group["pretrain_cof"]
                    p.add_(p - state["pretrained"], alpha=-pull)
                else:
                    p.addcdiv_(m, denom, value=-step_size)
                if group["weight_decay"] > 0:
                    p.add_(p, alpha=-lr * group["weight_decay"])
        return loss


def is_bias_or_norm(name: str) -> bool:
    return "bias" in name or "norm" in name


def recadam_param_groups(
    named: Iterable[tuple[str, nn.Parameter]],
    grouping: Literal["all", "reference"] = "all",
    weight_decay: float = 0.01,
) -> list[dict[str, Any]]:
    """D5 grouping of named parameters (see the module docstring)."""
    plain, special = [], []
    for name, p in named:
        (special if is_bias_or_norm(name) else plain).append(p)
    if grouping == "all":
        groups = [
            {"params": plain, "anneal": True, "weight_decay": weight_decay},
            {"params": special, "anneal": True, "weight_decay": 0.0},
        ]
    elif grouping == "reference":
        groups = [
            {"params": special, "anneal": True, "weight_decay": weight_decay},
            {"params": plain, "anneal": False, "weight_decay": 0.0},
        ]
    else:
        raise ValueError(f"recadam grouping must be 'all' or 'reference', got {grouping!r}")
    return [g for g in groups if g["params"]]


@dataclass
class RecAdamConfig(CklConfig):
    """lr None: the trainer's learning rate. Paper: k=0.5, t0=250, gamma=5000, wd 0.01."""

    lr: float | None = field(
        default=None, metadata={"help": "RecAdam learning rate (null: the trainer's)"}
    )
    anneal_k: float = field(
        default=0.5, metadata={"help": "k of the annealing sigmoid (paper 0.5)"}
    )
    anneal_t0: float = field(
        default=250.0, metadata={"help": "t0 of the annealing sigmoid (paper 250)"}
    )
    pretrain_cof: float = field(
        default=5000.0, metadata={"help": "gamma, the pull toward the initial weights (paper 5000)"}
    )
    weight_decay: float = field(
        default=0.01, metadata={"help": "decoupled weight decay (paper 0.01)"}
    )
    eps: float = field(default=1e-6, metadata={"help": "Adam eps (reference 1e-6)"})
    recadam_grouping: Literal["all", "reference"] = field(
        default="all",
        metadata={"help": "all (every trainable tensor) or reference (bias/norm only)"},
    )


@register_method("recadam")
class RecAdamMethod(CklMethod):
    config_class = RecAdamConfig

    def __init__(self, config: RecAdamConfig | None = None) -> None:
        super().__init__(config)
        self._names: dict[int, str] = {}

    def _remember_names(self, model: nn.Module) -> None:
        self._names = {id(p): n for n, p in model.named_parameters()}

    def prepare(self, model: nn.Module) -> nn.Module:
        self._remember_names(model)
        return model

    def on_task_start(self, task: Any, model: nn.Module) -> None:
        super().on_task_start(task, model)
        self._remember_names(model)

    def configure_optimizer(
        self, params: list[nn.Parameter], default: Callable[[list[nn.Parameter]], Any]
    ) -> torch.optim.Optimizer:
        cfg = self.config
        base = default(params)
        lr = cfg.lr if cfg.lr is not None else base.defaults["lr"]
        betas = base.defaults.get("betas", (0.9, 0.999))
        named = []
        for p in params:
            if id(p) not in self._names:
                raise KeyError(
                    "recadam: a parameter to optimise was not seen in prepare/on_task_start"
                )
            named.append((self._names[id(p)], p))
        groups = recadam_param_groups(named, cfg.recadam_grouping, cfg.weight_decay)
        return RecAdam(
            groups,
            lr=lr,
            betas=betas,
            eps=cfg.eps,
            anneal_k=cfg.anneal_k,
            anneal_t0=cfg.anneal_t0,
            pretrain_cof=cfg.pretrain_cof,
        )

"""Hyperparameters of Recurrent-KIF (spec recurrent-kif.md sections 2-8); defaults are the
paper's (T5 and LLaMA share them; B_out is 8 for T5 and 64 for LLaMA)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..methods._stacked import LoRAMethodConfig


@dataclass
class KIFConfig(LoRAMethodConfig):
    """inner_iterations: K, inner optimizer steps between fusions.
    outer_iterations: M, outer (memory) steps per fusion.
    outer_batch_size: B_out, memory examples per outer step and device.
    outer_optimizer: "adamw" (own AdamW, constant ``outer_lr``) or "inner" (emulates the
        reference in fp32: an extra step of the inner AdamW at its current LR).
    outer_lr: 0 emulates the reference in fp16 (its outer LR stayed 0, so no outer change).
    outer_loss_div_ga: divide the outer loss by gradient accumulation (reference emulation).
    quantile: q of the importance threshold (about 1 - q of the elements are important).
    sensitivity: "first" |theta g|, "second" (theta g)^2, "mix" |theta g - (theta g)^2 / 2|.
    threshold_scope: "global" (one pool over every LoRA tensor) or "local" (per tensor).
    reset_inner / reset_outer: clear that loop's EMAs after each fusion.
    memory_ratio: percent of each earlier task's training set kept in memory.
    memory_class_key: field of a training row that names its class (else its answer tokens).
    carry_adapters: start each task from the previous task's adapter (False emulates the
        reference, whose adapters were silently re-initialised per task).
    select_best_on_dev: keep, per task, the weights with the lowest dev loss (checked every
        ``dev_every`` steps and at the task's end on ``dev_per_task`` dev rows of each seen task,
        given with ``set_dev_data``); off by default because dev overlaps test (decision 6f).
    debug_check_ranks: after each fusion, assert that all processes hold the same weights and
        masks (checksums gathered across ranks).
    """

    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout (paper 0.05)"})
    inner_iterations: int = field(
        default=8, metadata={"help": "K: inner optimizer steps between fusions (paper 8)"}
    )
    outer_iterations: int = field(
        default=4, metadata={"help": "M: outer memory steps per fusion (paper 4)"}
    )
    outer_batch_size: int = field(
        default=8,
        metadata={
            "help": "B_out: memory examples per outer step and device (paper: T5 8, LLaMA 64)"
        },
    )
    outer_optimizer: Literal["adamw", "inner"] = field(
        default="adamw",
        metadata={"help": "adamw (own AdamW) or inner (emulates the reference in fp32)"},
    )
    outer_lr: float = field(
        default=1e-3,
        metadata={"help": "outer AdamW lr (paper 1e-3; 0 emulates the reference in fp16)"},
    )
    outer_betas: tuple[float, float] = field(
        default=(0.9, 0.999), metadata={"help": "outer AdamW betas"}
    )
    outer_eps: float = field(default=1e-8, metadata={"help": "outer AdamW eps"})
    outer_weight_decay: float = field(default=0.0, metadata={"help": "outer AdamW weight decay"})
    outer_max_grad_norm: float = field(
        default=1.0, metadata={"help": "outer gradient clipping (0: none)"}
    )
    outer_loss_div_ga: bool = field(
        default=False,
        metadata={"help": "divide the outer loss by gradient accumulation (reference emulation)"},
    )
    quantile: float = field(
        default=0.8, metadata={"help": "q of the importance threshold (paper 0.8)"}
    )
    beta1: float = field(
        default=0.85, metadata={"help": "EMA factor of the sensitivity (paper 0.85)"}
    )
    beta2: float = field(
        default=0.85, metadata={"help": "EMA factor of the uncertainty (paper 0.85)"}
    )
    sensitivity: Literal["first", "second", "mix"] = field(
        default="first", metadata={"help": "first |theta g|, second (theta g)^2, or mix"}
    )
    threshold_scope: Literal["global", "local"] = field(
        default="global",
        metadata={"help": "global (one pool over every LoRA tensor, paper) or local (per tensor)"},
    )
    reset_inner: bool = field(
        default=True, metadata={"help": "clear the inner loop's EMAs after each fusion"}
    )
    reset_outer: bool = field(
        default=False, metadata={"help": "clear the outer loop's EMAs after each fusion"}
    )
    memory_ratio: float = field(
        default=2.0,
        metadata={"help": "percent of each earlier task's training set kept in memory (paper 2)"},
    )
    memory_seed: int = field(default=42, metadata={"help": "seed of the memory selection"})
    memory_class_key: str = field(
        default="output", metadata={"help": "field of a training row naming its class"}
    )
    carry_adapters: bool = field(
        default=True,
        metadata={
            "help": "start each task from the previous adapter (false emulates the reference)"
        },
    )
    select_best_on_dev: bool = field(
        default=False,
        metadata={
            "help": "keep each task's lowest-dev-loss weights (reference; off: dev overlaps test)"
        },
    )
    dev_every: int = field(
        default=40, metadata={"help": "steps between dev checks (select_best_on_dev)"}
    )
    dev_per_task: int = field(
        default=25, metadata={"help": "dev rows of each seen task used by select_best_on_dev"}
    )
    debug_check_ranks: bool = field(
        default=False,
        metadata={"help": "assert after each fusion that all processes hold the same weights"},
    )

    def __post_init__(self) -> None:
        checks = {
            "inner_iterations": self.inner_iterations >= 1,
            "outer_iterations": self.outer_iterations >= 0,
            "outer_batch_size": self.outer_batch_size >= 1,
            "outer_lr": self.outer_lr >= 0,
            "quantile": 0.0 <= self.quantile <= 1.0,
            "beta1": 0.0 <= self.beta1 < 1.0,
            "beta2": 0.0 <= self.beta2 < 1.0,
            "memory_ratio": self.memory_ratio >= 0,
            "outer_max_grad_norm": self.outer_max_grad_norm >= 0,
            "dev_every": self.dev_every >= 1,
            "dev_per_task": self.dev_per_task >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid KIFConfig values: {', '.join(bad)}")
        self.outer_betas = tuple(self.outer_betas)  # type: ignore[assignment]

"""Configuration of the continual trainer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class TrainerConfig:
    """Everything the loop needs; per-task values (``lr``, ``epochs``) may be overridden by a
    task's ``params``.

    batch_size: examples per micro-batch per process. The global batch is
        ``batch_size * grad_accum * num_processes``.
    mixed_precision: "no" (fp32), "bf16" or "fp16", passed to accelerate.
    lr_scheduler: "constant", "linear" (decay to 0 after warm-up) or "cosine".
    param_groups: optimizer settings by parameter-name prefix for the default optimizer, e.g.
        ``{"heads": {"lr": 1e-3, "weight_decay": 0.01}}`` (classifier heads of the classic
        recipes); parameters matching no prefix use ``lr`` and ``weight_decay``.
    eval_future: evaluate every task after each task (FWT needs it), not only the seen ones.
    eval_before_training: evaluate the untrained model first (the FWT baseline row).
    eval_every_epoch: also evaluate after every epoch (TAALM's per-epoch curves).
    checkpoint_every: write a checkpoint every N optimizer steps (0: only after each task).
    max_consecutive_nonfinite: stop the run (:class:`DivergedError`) after this many optimizer
        steps in a row were skipped for a non-finite loss or gradient (0: never stop).
    step_schedule: "epoch" (each epoch ends with a possibly short step) or "continuous" (the
        epochs' micro-batches form one stream, leftovers join the next epoch's first step, and a
        task has epochs * floor(micro-batches per epoch / accumulation) steps; Recurrent-KIF).
    """

    output_dir: str = "runs/continual"
    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 8
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    seed: int = 42
    eval_future: bool = False
    eval_before_training: bool = False
    eval_every_epoch: bool = False
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 10
    log_with: tuple[str, ...] = ("tensorboard",)
    max_consecutive_nonfinite: int = 5
    progress: bool = True
    step_schedule: Literal["epoch", "continuous"] = "epoch"
    extra: dict[str, Any] = field(default_factory=dict)
    param_groups: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 0,
            "batch_size": self.batch_size >= 1,
            "grad_accum": self.grad_accum >= 1,
            "lr": self.lr >= 0,
            "max_grad_norm": self.max_grad_norm >= 0,
            "warmup_ratio": 0 <= self.warmup_ratio <= 1,
            "checkpoint_every": self.checkpoint_every >= 0,
            "keep_checkpoints": self.keep_checkpoints >= 1,
            "max_consecutive_nonfinite": self.max_consecutive_nonfinite >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid TrainerConfig values: {', '.join(bad)}")
        self.adam_betas = tuple(self.adam_betas)  # type: ignore[assignment]
        self.log_with = tuple(self.log_with)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

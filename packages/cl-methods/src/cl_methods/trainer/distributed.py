"""The trainer's accelerator: creation, the distributed modes it supports, per-task preparation.

Supported: one process (CPU or one GPU) and DDP over several processes (``accelerate launch
--multi_gpu``; gloo on CPU, NCCL on GPUs). Refused at start-up, in one line:

- FSDP: continual methods change which parameters train from task to task (new adapters, frozen
  old heads, a frozen encoder after a warm-up) and rewrite parameters in their hooks (stacking,
  fusion, prototypes), which sharded (DTensor) parameters do not allow; accelerate's FSDP1 also
  needs a GPU. torch's FSDP2 runs on CPU, but no method here is written for sharded parameters;
- DeepSpeed: its engine owns the optimizer and the loss scaling, while here every task gets the
  optimizer its method builds (and SEQ keeps one across tasks);
- XLA, Megatron and the other accelerate backends: not tested.

Per task, :func:`prepare_task` hands the task's optimizer (and, under DDP, the model: the set of
trainable parameters may have changed) to ``accelerator.prepare``; :func:`release_task` gives
them back with ``accelerator.free_memory()``, accelerate's documented call between trainings
with different models or optimizers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import DistributedType
from torch import nn

from .config import TrainerConfig
from .outputs import JsonlTracker

log = logging.getLogger(__name__)

SUPPORTED = (
    "one process (CPU or one GPU) or DDP (accelerate launch --multi_gpu: gloo on CPU, NCCL on GPUs)"
)
DDP_TYPES = (DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)


def make_accelerator(cfg: TrainerConfig, output_dir: Path) -> Accelerator:
    """An Accelerator for ``cfg``: precision, trackers (``train_log.jsonl`` always), DDP options.

    accelerate keeps one global state per process: a second run in the same process with another
    precision is refused by accelerate; pass ``accelerator=`` to the trainer, or run it in a new
    process."""
    trackers: list = [JsonlTracker(output_dir)]
    for name in cfg.log_with:
        if name == "wandb":
            try:
                import wandb  # noqa: F401
            except ImportError:
                log.warning("wandb is not installed: logging to wandb is off")
                continue
        trackers.append(name)
    ddp = DistributedDataParallelKwargs(
        find_unused_parameters=bool(cfg.extra.get("find_unused_parameters", False))
    )
    try:
        # Without CUDA, accelerate only joins a multi-process (gloo) group when told cpu=True.
        return Accelerator(
            cpu=not torch.cuda.is_available(),
            mixed_precision=cfg.mixed_precision,
            log_with=trackers,
            project_dir=str(output_dir),
            kwargs_handlers=[ddp],
        )
    except ValueError as err:
        if "already been initialized" not in str(err):
            raise
        raise ValueError(
            f"this process already ran accelerate with other settings, so mixed_precision="
            f"{cfg.mixed_precision!r} cannot apply: run in a new process or pass accelerator="
        ) from err


def check_supported(accelerator: Accelerator) -> None:
    """Refuse distributed modes the trainer does not support, naming those it does. ``accelerate
    launch --use_fsdp`` on a machine without GPUs gives a plain run without a word: the launch
    request (its ``ACCELERATE_USE_*`` variables) is refused too."""
    kind = accelerator.distributed_type
    for name, requested in (
        ("FSDP", DistributedType.FSDP),
        ("DEEPSPEED", DistributedType.DEEPSPEED),
    ):
        if os.environ.get(f"ACCELERATE_USE_{name}", "false").lower() in ("1", "true"):
            kind = requested
    if kind == DistributedType.NO or kind in DDP_TYPES:
        return
    why = {
        DistributedType.FSDP: "methods change the trainable parameters between tasks and edit "
        "parameters in their hooks, which FSDP's sharded parameters do not allow",
        DistributedType.DEEPSPEED: "DeepSpeed's engine owns the optimizer, while each method "
        "builds (or keeps) its own per task",
    }.get(kind, "this mode is not tested")
    raise ValueError(
        f"ContinualTrainer does not support {kind.value}: {why}; supported: {SUPPORTED}"
    )


def prepare_task(
    accelerator: Accelerator, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[nn.Module, torch.optim.Optimizer]:
    """``(module to train, prepared optimizer)`` for one task. Under DDP the model is wrapped
    again each task, after the method has chosen this task's trainable parameters."""
    if accelerator.num_processes > 1:
        return accelerator.prepare(model, optimizer)
    return model, accelerator.prepare(optimizer)


def release_task(accelerator: Accelerator) -> None:
    """Drop accelerate's references to the task's optimizer (and DDP wrapper)."""
    accelerator.free_memory()

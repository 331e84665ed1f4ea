"""AdapterCL (spec classic-methods.md §2.10): one bottleneck adapter per task on a frozen LM.

Every block's FFN output goes through task ``t``'s adapter ``h + W_up ReLU(W_down h)`` (width
d/16, ``W_up`` zero-initialised; :mod:`cl_methods.classic.bottleneck_adapters`). At task ``t``
only its adapters train (a fresh optimizer per task; the spec's lr is 1e-4). The loss is the LM
loss over the whole sequence, prompt included, masking only the pads (the collated ``labels``
are ignored; DECISION: a left-padded row's first token, which only a pad would predict, is masked
too, so a row's loss does not depend on its batch's padding). Evaluation:

- TIL / IIL: task ``j`` is decoded with adapter ``j``;
- CIL: per sample, every seen adapter scores the eval prompt (mean next-token NLL) and the one
  with the lowest NLL decodes it (:class:`~cl_methods.methods.peft_task.NLLSelectView`).

Each task's adapter is exported to ``tasks/II_<task>/bottleneck_adapter.safetensors`` with an
``adapter_config.json`` (PEFT has no bottleneck-adapter type, so this is not a PEFT folder).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import save_file
from torch import nn

from ..adapters.inject import unwrap_model
from ..classic.bottleneck_adapters import (
    attach_task_adapters,
    set_active_task_adapter,
    task_adapter_layers,
    task_adapter_parameters,
    task_adapter_state,
)
from ..method import Method, MethodConfig, RunInfo, TaskContext
from ..registry import register_method
from .peft_task import NLLSelectView


@dataclass
class AdapterCLConfig(MethodConfig):
    reduction_factor: int = field(
        default=16, metadata={"help": "adapter width = hidden size / this (spec d/16)"}
    )
    targets: tuple[str, ...] = field(
        default=("mlp",),
        metadata={"help": "names of the FFN modules followed by an adapter (LLaMA/GPT-2/Pythia)"},
    )
    num_tasks: int = field(
        default=0, metadata={"help": "adapters to allocate; 0: the run's number of tasks"}
    )
    il_mode: Literal["CIL", "TIL", "IIL"] | None = field(
        default=None, metadata={"help": "CIL (lowest-NLL adapter), TIL or IIL; null: the run's"}
    )


def lm_loss_over_sequence(model: nn.Module, batch: dict[str, Any]):
    """``(loss, outputs)``: next-token loss on every attended token predicted from an attended
    token (the collated ``labels`` are ignored). Pads are masked, and so is a left-padded row's
    first token (it would be predicted from a pad), so a row's loss does not depend on how much
    padding its batch has."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, 1:] = labels[:, 1:].masked_fill(mask[:, :-1] == 0, -100)
    inputs = {k: batch[k] for k in ("position_ids", "token_type_ids") if k in batch}
    out = model(input_ids=ids, attention_mask=mask, labels=labels, **inputs)
    return out.loss, out


class AdapterView(nn.Module):
    """Evaluation with task ``task``'s adapters (the training adapter is restored after)."""

    def __init__(self, model: nn.Module, task: int, current: int) -> None:
        super().__init__()
        self.model, self.task, self.current = model, int(task), int(current)

    @property
    def config(self):
        return self.model.config

    def _run(self, fn, *args: Any, **kwargs: Any):
        set_active_task_adapter(self.model, self.task)
        try:
            return fn(*args, **kwargs)
        finally:
            set_active_task_adapter(self.model, self.current)

    def forward(self, *args: Any, **kwargs: Any):
        return self._run(self.model, *args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._run(self.model.generate, *args, **kwargs)


@register_method("adaptercl")
class AdapterCL(Method):
    config_class = AdapterCLConfig
    config: AdapterCLConfig

    def __init__(self, config: AdapterCLConfig | None = None) -> None:
        super().__init__(config)
        self.task_names: list[str] = []
        self.current = 0

    def bind_run(self, run: RunInfo) -> None:
        super().bind_run(run)
        cfg, updates = self.config, {}
        if not cfg.num_tasks:
            updates["num_tasks"] = run.num_tasks
        if cfg.il_mode is None and run.scenario is not None:
            updates["il_mode"] = run.scenario
        if updates:
            self.config = dataclasses.replace(cfg, **updates)

    def prepare(self, model: nn.Module) -> nn.Module:
        inner = unwrap_model(model)
        if not hasattr(inner, "generate"):
            raise ValueError(
                "adaptercl needs a causal LM with generate() (backbone.kind causal_lm, "
                f"backbone.head none), got {type(inner).__name__}"
            )
        if not task_adapter_layers(inner):
            if not self.config.num_tasks:
                raise ValueError("adaptercl needs num_tasks (config) or bind_run(RunInfo) first")
            cfg = self.config
            attach_task_adapters(inner, cfg.num_tasks, tuple(cfg.targets), cfg.reduction_factor)
        inner.requires_grad_(False)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        t = task.index
        if t < len(self.task_names):
            self.task_names[t] = task.name
        else:
            self.task_names.append(task.name)
        self.current = t
        model.requires_grad_(False)
        set_active_task_adapter(model, t)
        for p in task_adapter_parameters(model, t):
            p.requires_grad_(True)

    def forward_loss(self, batch: dict[str, Any], model: nn.Module):
        return lm_loss_over_sequence(model, batch)

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        for p in task_adapter_parameters(model, task.index):
            p.requires_grad_(False)

    def eval_model(self, model: nn.Module, task_name: str | None = None) -> nn.Module:
        if self.config.il_mode != "CIL" and task_name in self.task_names:
            return AdapterView(model, self.task_names.index(task_name), self.current)
        return NLLSelectView(model, self.current, activate=set_active_task_adapter)

    def export_task(self, task: TaskContext, model: nn.Module, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            task_adapter_state(unwrap_model(model), task.index),
            str(directory / "bottleneck_adapter.safetensors"),
        )
        meta = {
            "type": "bottleneck (Pfeiffer): h + W_up relu(W_down h) after each FFN",
            "task": task.index,
            "reduction_factor": self.config.reduction_factor,
            "targets": list(self.config.targets),
        }
        (directory / "adapter_config.json").write_text(json.dumps(meta, indent=2))

    def state_dict(self) -> dict[str, Any]:
        return {"task_names": list(self.task_names), "current": self.current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.task_names = list(state.get("task_names", []))
        self.current = int(state.get("current", 0))

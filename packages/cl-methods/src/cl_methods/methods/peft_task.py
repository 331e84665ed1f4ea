"""PEFT with one adapter per task (spec §2.3): LoRA r4/alpha8/dropout 0.1 on a frozen backbone.

The LoRA adapters are PEFT's own (one named adapter per task, :mod:`cl_methods.classic.task_lora`)
and each task's adapter is exported as a PEFT folder (:meth:`Peft.export_task`).

At the start of task t, adapter t becomes active and only it and head t train (the trainer builds a
fresh optimizer per task); the loss is the LM loss, or head t's cross-entropy on TIL labels.

Evaluation (:meth:`Peft.eval_model`):
- TIL: task j is evaluated with adapter j (and head j);
- CIL with heads: every seen adapter s gives features through head s; the logits are concatenated;
- CIL generative: per sample, the adapter with the lowest mean NLL of the eval prompt decodes it
  (the AdapterCL rule); ``cil_adapter_select="latest"`` keeps the reference's newest adapter.

``adapter="prompt_tuning"`` (alias ``peft_type``): one prompt of ``num_virtual_tokens`` (10) per
task, inserted as input embeddings and initialised from ``prompt_init_ids`` (the token ids of the
dataset's init text, §3.3; from the run's data family, see :meth:`Peft.bind_run`) or from
random vocabulary rows. A heads model (:class:`~cl_methods.classic.ClassifierModel`) holds its
prompts itself; a plain causal LM is wrapped by :meth:`Peft.prepare` in a
:class:`~cl_methods.classic.task_prompts.PromptTunedLM` (virtual tokens after the left padding,
labels -100 there, stripped from the logits; PEFT's prompt tuning would put them before the
padding, so a row's output would depend on how much padding its batch has). Adapter
selection (:func:`set_active`) is the same for prompts and LoRA, so TIL, the NLL rule and
``latest`` work unchanged for both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..adapters.inject import unwrap_model
from ..adapters.targets import paper_targets
from ..classic.backbones import ClassifierModel
from ..classic.prompt_init import run_prompt_init_ids
from ..classic.task_lora import (
    adapter_params,
    attach_task_lora,
    save_task_lora,
    set_active_adapter,
    task_lora_layers,
)
from ..classic.task_prompts import PromptTunedLM
from ..method import Method, MethodConfig, RunInfo, TaskContext
from ..registry import register_method
from ..state_io import save_safetensors


@dataclass
class PeftConfig(MethodConfig):
    adapter: Literal["lora", "prompt_tuning"] = field(
        default="lora", metadata={"help": "lora or prompt_tuning: one adapter or prompt per task"}
    )
    peft_type: Literal["", "lora", "prompt_tuning"] = field(
        default="", metadata={"help": "alias of adapter (seq's key name); empty: use adapter"}
    )
    num_virtual_tokens: int = field(
        default=10, metadata={"help": "virtual tokens per task prompt (spec 10)"}
    )
    prompt_init_ids: tuple[int, ...] = field(
        default=(),
        metadata={
            "help": "token ids initialising each prompt; empty: the run's data family's init text"
        },
    )
    r: int = field(default=4, metadata={"help": "LoRA rank (spec 4)"})
    alpha: float = field(default=8.0, metadata={"help": "LoRA alpha (spec 8)"})
    dropout: float = field(default=0.1, metadata={"help": "LoRA dropout (spec 0.1)"})
    targets: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "module-name suffixes to adapt; empty: the architecture's attention q, v"
        },
    )
    num_tasks: int = field(
        default=0, metadata={"help": "adapters to allocate; 0: the run's number of tasks"}
    )
    # generative models only (heads models know theirs); None: the run's scenario, else CIL
    il_mode: Literal["CIL", "TIL"] | None = field(
        default=None, metadata={"help": "generative models: CIL or TIL; null: the run's scenario"}
    )
    cil_adapter_select: Literal["nll", "latest"] = field(
        default="nll",
        metadata={"help": "generative CIL: nll (lowest prompt NLL picks the adapter) or latest"},
    )
    classifier_lr: float = field(
        default=1e-3, metadata={"help": "learning rate of the task's head (spec 1e-3)"}
    )
    classifier_weight_decay: float = field(
        default=0.01, metadata={"help": "weight decay of the task's head (spec 0.01)"}
    )

    def __post_init__(self) -> None:
        if self.peft_type:
            if self.adapter != "lora" and self.adapter != self.peft_type:
                raise ValueError(
                    f"peft: adapter={self.adapter!r} and peft_type={self.peft_type!r} disagree"
                )
            self.adapter = self.peft_type


@register_method("peft")
class Peft(Method):
    config_class = PeftConfig
    config: PeftConfig

    def bind_run(self, run: RunInfo) -> None:
        """Fill what the config leaves unset from the run: ``num_tasks``, ``il_mode`` and, for
        prompt tuning, ``prompt_init_ids`` (the data family's init text, spec 3.3)."""
        super().bind_run(run)
        cfg, updates = self.config, {}
        if not cfg.num_tasks:
            updates["num_tasks"] = run.num_tasks
        if cfg.il_mode is None and run.scenario is not None:
            updates["il_mode"] = "TIL" if run.scenario == "TIL" else "CIL"
        if cfg.adapter == "prompt_tuning" and not cfg.prompt_init_ids:
            ids = run_prompt_init_ids(run)
            if ids:
                updates["prompt_init_ids"] = ids
        if updates:
            self.config = dataclasses.replace(cfg, **updates)

    def __init__(self, config: PeftConfig | None = None) -> None:
        super().__init__(config)
        self.task_names: list[str] = []
        self.current = 0
        self._heads: ClassifierModel | None = None
        self._lm: PromptTunedLM | None = None

    def _prompt_host(self) -> ClassifierModel | PromptTunedLM:
        host = self._heads if self._heads is not None else self._lm
        if host is None:
            raise ValueError("peft prompt tuning: call prepare(model) before the first task")
        return host

    def _attach(self, model: nn.Module, num_tasks: int) -> None:
        cfg = self.config
        if cfg.adapter == "prompt_tuning":
            init = list(cfg.prompt_init_ids)
            if self._heads is not None and self._heads.prompts is None:
                self._heads.add_task_prompts(cfg.num_virtual_tokens, init)
            elif self._heads is None and self._prompt_host().prompts is None:
                self._lm.add_task_prompts(num_tasks, cfg.num_virtual_tokens, init)
            model.requires_grad_(False)
            return
        if task_lora_layers(model):
            return
        body = self._heads.backbone if self._heads is not None else model
        targets = tuple(cfg.targets) or paper_targets(body)
        attach_task_lora(body, targets, num_tasks, cfg.r, cfg.alpha, cfg.dropout)
        model.requires_grad_(False)

    def _attached(self, model: nn.Module) -> bool:
        if self.config.adapter == "prompt_tuning":
            return self._prompt_host().prompts is not None
        return bool(task_lora_layers(model))

    def _task_params(self, model: nn.Module, t: int) -> list[nn.Parameter]:
        if self.config.adapter == "prompt_tuning":
            return [self._prompt_host().prompts[t]]
        return adapter_params(model, t)

    def prepare(self, model: nn.Module) -> nn.Module:
        inner = unwrap_model(model)
        self._heads = inner if isinstance(inner, ClassifierModel) else None
        if self.config.adapter == "prompt_tuning" and self._heads is None:
            if not isinstance(inner, PromptTunedLM):
                if not hasattr(inner, "generate"):
                    raise ValueError(
                        "peft prompt tuning needs a ClassifierModel or a causal LM with generate()"
                        f", got {type(inner).__name__}"
                    )
                inner = PromptTunedLM(inner)
            model = self._lm = inner
        n = self.config.num_tasks or (self._heads.labels.num_tasks if self._heads else 0)
        if n:
            self._attach(model, n)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        if not self._attached(model):
            if not task.num_tasks:
                raise ValueError("peft needs num_tasks (config) or a stream of known length")
            self._attach(model, task.num_tasks)
        t = task.index
        if t < len(self.task_names):
            self.task_names[t] = task.name
        else:
            self.task_names.append(task.name)
        self.current = t
        model.requires_grad_(False)
        set_active(model, t)
        for p in self._task_params(model, t):
            p.requires_grad_(True)
        if self._heads is not None:
            self._heads.heads[t].requires_grad_(True)

    def configure_optimizer(self, params, default):
        if self._heads is None:
            return default(params)
        head_ids = {id(p) for p in self._heads.heads[self.current].parameters()}
        body = [p for p in params if id(p) not in head_ids]
        optimizer = default(body)
        optimizer.add_param_group(
            {
                "params": [p for p in params if id(p) in head_ids],
                "lr": self.config.classifier_lr,
                "weight_decay": self.config.classifier_weight_decay,
            }
        )
        return optimizer

    def forward_loss(self, batch: dict[str, Any], model: nn.Module):
        if self._heads is None:
            return None
        t = self.current
        keys = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
        feats = self._heads.features(**{k: batch[k] for k in keys if k in batch})
        logits = self._heads.heads[t](feats)
        loss = F.cross_entropy(logits, batch["labels"] - self._heads.labels.pre_accum[t])
        return loss, None

    def eval_model(self, model: nn.Module, task_name: str | None = None) -> nn.Module:
        if self._heads is not None:
            return PerTaskHeadsView(self._heads, self.current)
        til = self.config.il_mode == "TIL"
        if til and task_name in self.task_names:
            set_active(model, self.task_names.index(task_name))
            return model
        if self.config.cil_adapter_select == "latest":
            set_active(model, self.current)
            return model
        return NLLSelectView(model, self.current)

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        set_active(model, task.index)

    def export_task(self, task: TaskContext, model: nn.Module, directory: Path) -> None:
        """LoRA: task t's adapter as a PEFT folder (relative to the backbone of a heads model,
        whose head t goes to ``head.safetensors``). Soft prompts stay in the checkpoints: PEFT's
        prompt tuning puts the virtual tokens before any left padding, these go after it."""
        if self.config.adapter != "lora":
            return
        body = self._heads.backbone if self._heads is not None else unwrap_model(model)
        save_task_lora(body, task.index, directory)
        if self._heads is not None:
            head = self._heads.heads[task.index].state_dict()
            save_safetensors(
                {k: v.detach().cpu().contiguous() for k, v in head.items()},
                directory / "head.safetensors",
            )

    def state_dict(self) -> dict[str, Any]:
        return {"task_names": list(self.task_names), "current": self.current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.task_names = list(state.get("task_names", []))
        self.current = int(state.get("current", 0))


def set_active(model: nn.Module, task: int) -> None:
    """Activate task ``task``'s LoRA adapters and, on a heads model or a prompt-tuned LM, its
    prompt."""
    set_active_adapter(model, task)
    inner = unwrap_model(model)
    if isinstance(inner, (ClassifierModel, PromptTunedLM)) and inner.prompts is not None:
        inner.active_prompt = int(task)


class PerTaskHeadsView(nn.Module):
    """Classification with per-task adapters: TIL uses adapter j + head j; CIL concatenates, for
    every seen task s, head s on the features of adapter s."""

    def __init__(self, model: ClassifierModel, current: int) -> None:
        super().__init__()
        self.model = model
        self.current_task = current

    def features(self, **inputs: torch.Tensor) -> torch.Tensor:
        set_active(self.model, self.current_task)
        return self.model.features(**inputs)

    def predict_logits(self, inputs: dict[str, torch.Tensor], task: int | None) -> torch.Tensor:
        try:
            if task is not None:
                set_active(self.model, task)
                return self.model.heads[task](self.model.features(**inputs))
            parts = []
            for s in range(self.current_task + 1):
                set_active(self.model, s)
                parts.append(self.model.heads[s](self.model.features(**inputs)))
            return torch.cat(parts, dim=-1)
        finally:
            set_active(self.model, self.current_task)


class NLLSelectView(nn.Module):
    """Generation where each sample is decoded by the seen adapter (LoRA or soft prompt) giving
    its eval prompt the lowest mean next-token NLL. ``activate(model, s)`` switches to task
    ``s``'s adapter (default :func:`set_active`; AdapterCL passes its bottleneck adapters')."""

    def __init__(
        self,
        model: nn.Module,
        current: int,
        activate: Callable[[nn.Module, int], None] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.current_task = current
        self.activate = activate or set_active

    @property
    def config(self):
        return self.model.config

    @torch.no_grad()
    def prompt_nll(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[num_seen, batch]`` mean NLL of every attended prompt token after the first."""
        out = []
        target = input_ids[:, 1:]
        mask = attention_mask[:, 1:].float() * attention_mask[:, :-1].float()
        for s in range(self.current_task + 1):
            self.activate(self.model, s)
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
            nll = F.cross_entropy(logits.transpose(1, 2).float(), target, reduction="none")
            out.append((nll * mask).sum(-1) / mask.sum(-1).clamp(min=1))
        return torch.stack(out)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any):
        choice = self.prompt_nll(input_ids, attention_mask).argmin(dim=0)
        pad = kwargs.get("pad_token_id") or 0
        rows: list[torch.Tensor | None] = [None] * input_ids.shape[0]
        try:
            for s in torch.unique(choice).tolist():
                idx = (choice == s).nonzero().flatten()
                self.activate(self.model, s)
                gen = self.model.generate(
                    input_ids=input_ids[idx], attention_mask=attention_mask[idx], **kwargs
                )
                for k, i in enumerate(idx.tolist()):
                    rows[i] = gen[k]
        finally:
            self.activate(self.model, self.current_task)
        width = max(r.shape[0] for r in rows)
        return torch.stack([F.pad(r, (0, width - r.shape[0]), value=pad) for r in rows])

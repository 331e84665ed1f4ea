"""Shared machinery of the stacked-adapter family (SeqLoRA, IncLoRA, O-LoRA, N-LoRA, MTL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from torch import nn

from ..adapters import (
    LoRAConfig,
    append_new_adapters,
    attach_stacked_lora,
    freeze_all_but_new_adapters,
    paper_targets,
    save_peft_adapter,
    stacked_lora_layers,
    unwrap_model,
)
from ..classic.backbones import ClassifierModel
from ..method import Method, MethodConfig, TaskContext
from ..state_io import save_safetensors


@dataclass
class LoRAMethodConfig(MethodConfig):
    """targets: module-name suffixes to adapt; empty means the paper's targets for the
    architecture (T5 ``q``/``v``, LLaMA ``q_proj``/``v_proj``). r=8, alpha=32 (scale 4) and
    dropout 0.1 are the O-LoRA defaults."""

    targets: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "suffixes of modules to adapt; empty: the paper's (T5 q,v; LLaMA q_proj,v_proj)"
        },
    )
    r: int = field(default=8, metadata={"help": "LoRA rank (paper 8)"})
    alpha: float = field(
        default=32.0, metadata={"help": "LoRA alpha (paper 32: scale alpha / r = 4)"}
    )
    dropout: float = field(default=0.1, metadata={"help": "LoRA dropout (paper 0.1)"})
    # Extra parameters that train beside the adapters (e.g. per-task classifier heads):
    # parameter-name prefixes, "{task}" replaced by the task index ("heads.{task}": the current
    # head only). They use ``train_also_lr`` (None: the trainer's lr) and their own weight decay.
    train_also: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "name prefixes of parameters trained beside the adapters ('{task}': task index)"
        },
    )
    train_also_lr: float | None = field(
        default=None,
        metadata={"help": "learning rate of train_also parameters (null: the trainer's)"},
    )
    train_also_weight_decay: float = field(
        default=0.01, metadata={"help": "weight decay of train_also parameters"}
    )


class StackedAdapterMethod(Method):
    """Attach stacked adapters at ``prepare``; train only the current adapter; at the end of a
    task append it to the frozen stack when ``stack_per_task`` is set."""

    config_class: ClassVar[type[MethodConfig]] = LoRAMethodConfig
    stack_per_task: ClassVar[bool] = True
    config: LoRAMethodConfig

    def prepare(self, model: nn.Module) -> nn.Module:
        if stacked_lora_layers(model):
            return model
        cfg = self.config
        targets = tuple(cfg.targets) or paper_targets(model)
        attach_stacked_lora(
            model, LoRAConfig(targets=targets, r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout)
        )
        freeze_all_but_new_adapters(model)
        self._unfreeze_extra(model, 0)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        freeze_all_but_new_adapters(model)
        self._unfreeze_extra(model, task.index)

    def _extra_names(self, model: nn.Module, index: int) -> set[str]:
        prefixes = [p.format(task=index) for p in self.config.train_also]
        return {
            name
            for name, _ in model.named_parameters()
            if any(name == p or name.startswith(p + ".") for p in prefixes)
        }

    def _unfreeze_extra(self, model: nn.Module, index: int) -> None:
        if not self.config.train_also:
            return
        names = self._extra_names(model, index)
        if not names:
            raise ValueError(f"train_also={list(self.config.train_also)} matches no parameter")
        self._extra_ids = set()
        for name, p in model.named_parameters():
            if name in names:
                p.requires_grad_(True)
                self._extra_ids.add(id(p))

    def configure_optimizer(self, params, default):
        extra_ids = getattr(self, "_extra_ids", set())
        extra = [p for p in params if id(p) in extra_ids]
        if not extra:
            return default(params)
        optimizer = default([p for p in params if id(p) not in extra_ids])
        group = {"params": extra, "weight_decay": self.config.train_also_weight_decay}
        if self.config.train_also_lr is not None:
            group["lr"] = self.config.train_also_lr
        optimizer.add_param_group(group)
        return optimizer

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        if self.stack_per_task:
            append_new_adapters(model)

    def export_task(self, task: TaskContext, model: nn.Module, directory: Path) -> None:
        """The task's adapter as a PEFT LoRA folder (``adapter_config.json`` +
        ``adapter_model.safetensors``, opened by ``peft.PeftModel.from_pretrained(base, folder)``);
        with ``stack_per_task``, ``stacked/`` holds every task's adapter so far as one LoRA (the
        model after this task). A heads model's adapters are saved relative to its backbone,
        and its heads in ``heads.safetensors``."""
        inner = unwrap_model(model)
        base = inner.backbone if isinstance(inner, ClassifierModel) else inner
        layers = stacked_lora_layers(base)
        stacked = len(next(iter(layers.values())).task_ranks)
        index = stacked - 1 if self.stack_per_task else None
        save_peft_adapter(base, directory, which="task", task=index)
        if self.stack_per_task:
            save_peft_adapter(base, directory / "stacked", which="stack")
        if base is not inner:
            heads = {
                k: v.detach().cpu().contiguous().clone()
                for k, v in inner.heads.state_dict().items()
            }
            save_safetensors(heads, directory / "heads.safetensors")

"""SEQ and the SEQ* options (spec §2.1): sequential fine-tuning, with per-task heads or the LM loss.

Options (all off by default, giving plain SEQ):

- ``fix_old_classifier`` (FixC): heads < t are frozen at the start of task t;
- ``fix_encoder`` (FixB) with ``warmup_epochs`` W and ``warmup_target``: task 0 gets W *extra*
  epochs (see :meth:`Seq.extra_epochs`) on the warm-up target (``ce-loss`` through the heads, or
  ``causal-lm`` on the backbone alone, heads untouched); then the backbone is frozen for good
  (``requires_grad=False`` and removed from the optimizer). With W=0 it never trains;
- ``preallocated_classifier`` (P): training logits span all T heads (future classes = negatives);
- ``prototype_prediction``: no CE after the warm-up; after the task, row c of head t is the mean
  training feature of class c (sum / sample count);
- ``peft_type="lora"``: one shared LoRA adapter (r8, alpha16, dropout 0.05) on a frozen backbone;
  ``"prompt_tuning"``: one shared prompt of ``num_virtual_tokens`` (heads models only);
- ``freeze_layers``/``freeze_embeddings`` from ``freeze_from_task`` (the derivative's "Freeze"):
  layer indices are matched numerically (``layers.1`` never matches ``layers.10``);
- ``replay`` (with the ``replay_*`` fields of :class:`cl_methods.replay.ReplayOptions`): the
  codebase's headline SEQ* runs add ``--is_replay True --Replay_buffer_size <number of classes>``;
  the :class:`cl_methods.replay.Replay` component then mixes buffer rows into every batch of
  t > 0 and is filled at each task's end (after the prototypes, from the task's own data).

Heads train with ``classifier_lr`` (1e-3) and ``classifier_weight_decay`` (0.01); everything else
with the trainer's lr and weight decay (the spec: 1e-5, 5e-4).

The optimizer (``optimizer_scope``, default ``"run"``) is the classic codebase's: ONE AdamW for
the whole run, with a group for the body and one per head. At the start of task t > 0 with
``fix_old_classifier`` the finished heads' groups get lr 0 (and their parameters no gradient),
so a pre-allocated head arrives at its task with the Adam moments it built as a negative class.
``"task"`` builds a fresh AdamW per task (this library's former behaviour); ``"carry"`` builds
a fresh one that takes over the moments of the parameters still held.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..adapters import LoRAConfig, attach_stacked_lora, paper_targets, stacked_lora_layers
from ..adapters.inject import unwrap_model
from ..classic.backbones import ClassifierModel
from ..classic.probing import class_means
from ..classic.prompt_init import run_prompt_init_ids
from ..method import Method, MethodConfig, OptimizerFactory, RunInfo, StepInfo, TaskContext
from ..registry import register_method
from ..replay import Replay, ReplayOptions

_LAYER = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")
_EMBED = re.compile(r"(?:^|\.)(?:embeddings|embed_tokens|embed_in|wte|wpe|embed_positions)\b")


@dataclass
class SeqConfig(ReplayOptions, MethodConfig):
    classifier_lr: float = field(
        default=1e-3, metadata={"help": "learning rate of the heads (spec 1e-3)"}
    )
    classifier_weight_decay: float = field(
        default=0.01, metadata={"help": "weight decay of the heads (spec 0.01)"}
    )
    fix_encoder: bool = field(
        default=False, metadata={"help": "FixB: freeze the backbone after the warm-up"}
    )
    warmup_epochs: int = field(
        default=0, metadata={"help": "W: extra epochs of task 0 on the warm-up target"}
    )
    warmup_target: Literal["ce-loss", "causal-lm"] = field(
        default="ce-loss",
        metadata={"help": "ce-loss (through the heads) or causal-lm (backbone LM loss)"},
    )
    fix_old_classifier: bool = field(
        default=False, metadata={"help": "FixC: freeze heads of earlier tasks"}
    )
    preallocated_classifier: bool = field(
        default=False,
        metadata={"help": "P: training logits span all heads (future classes as negatives)"},
    )
    prototype_prediction: bool = field(
        default=False, metadata={"help": "after each task, head rows = class-mean features (no CE)"}
    )
    peft_type: Literal["none", "lora", "prompt_tuning"] = field(
        default="none",
        metadata={"help": "none, lora (one shared adapter) or prompt_tuning (one shared prompt)"},
    )
    lora_r: int = field(default=8, metadata={"help": "shared LoRA rank"})
    lora_alpha: float = field(default=16.0, metadata={"help": "shared LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "shared LoRA dropout"})
    lora_targets: tuple[str, ...] = field(
        default=(),
        metadata={"help": "module-name suffixes of the shared LoRA; empty: attention q, v"},
    )
    num_virtual_tokens: int = field(
        default=10, metadata={"help": "virtual tokens of the shared prompt"}
    )
    prompt_init_ids: tuple[int, ...] = field(
        default=(),
        metadata={
            "help": "token ids initialising the prompt; empty: the run's data family's init text"
        },
    )
    freeze_layers: tuple[int, ...] = field(
        default=(), metadata={"help": "layer indices frozen from freeze_from_task on"}
    )
    freeze_embeddings: bool = field(
        default=False, metadata={"help": "freeze the embeddings from freeze_from_task on"}
    )
    freeze_from_task: int = field(
        default=0, metadata={"help": "first task the freezing applies to"}
    )
    optimizer_scope: Literal["task", "carry", "run"] = field(
        default="run",
        metadata={"help": "run: one AdamW for the whole run, finished heads at lr 0 (the classic "
                  "codebase); task: a fresh AdamW per task; carry: fresh, Adam state carried"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")


def _layer_index(name: str) -> int | None:
    match = _LAYER.search("." + name)
    return int(match.group(1)) if match else None


@register_method("seq")
class Seq(Method):
    config_class = SeqConfig
    config: SeqConfig

    def __init__(self, config: SeqConfig | None = None) -> None:
        super().__init__(config)
        self.optimizer_scope = self.config.optimizer_scope
        self.warming = False
        self.warmup_steps = 0
        self.encoder_frozen = False
        self.current_optimizer: torch.optim.Optimizer | None = None
        self._heads: ClassifierModel | None = None
        self.replay = Replay.from_options(self.config)

    def bind_run(self, run: RunInfo) -> None:
        """Prompt tuning without ``prompt_init_ids``: the run's init text (spec 3.3)."""
        super().bind_run(run)
        if self.config.peft_type == "prompt_tuning" and not self.config.prompt_init_ids:
            ids = run_prompt_init_ids(run)
            if ids:
                self.config = dataclasses.replace(self.config, prompt_init_ids=ids)

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _heads_model(model: nn.Module) -> ClassifierModel | None:
        model = unwrap_model(model)
        return model if isinstance(model, ClassifierModel) else None

    def _body_params(self, model: nn.Module) -> list[tuple[str, nn.Parameter]]:
        heads = self._heads_model(model)
        if heads is not None:
            return [(f"backbone.{n}", p) for n, p in heads.backbone.named_parameters()]
        return list(model.named_parameters())

    def extra_epochs(self, task_index: int) -> int:
        """Epochs task ``task_index`` runs on top of the configured ones (the warm-up)."""
        return self.config.warmup_epochs if task_index == 0 else 0

    # -- hooks ----------------------------------------------------------------------------------
    def prepare(self, model: nn.Module) -> nn.Module:
        cfg = self.config
        heads = self._heads_model(model)
        needs_heads = cfg.fix_encoder or cfg.fix_old_classifier or cfg.prototype_prediction
        if heads is None and (needs_heads or cfg.preallocated_classifier):
            raise ValueError(
                "fix_encoder, fix_old_classifier, preallocated_classifier and "
                "prototype_prediction need a model with per-task heads "
                "(cl_methods.classic.ClassifierModel)"
            )
        if (
            cfg.warmup_target == "causal-lm"
            and cfg.warmup_epochs
            and not (heads and heads.generative)
        ):
            raise ValueError(
                "warmup_target='causal-lm' needs a generative backbone with heads; "
                "encoders warm up with 'ce-loss'"
            )
        if heads is not None:
            heads.preallocated = cfg.preallocated_classifier
        self._heads = heads
        if cfg.peft_type == "lora" and not stacked_lora_layers(model):
            body = heads.backbone if heads is not None else model
            targets = tuple(cfg.lora_targets) or paper_targets(body)
            attach_stacked_lora(
                body,
                LoRAConfig(
                    targets=targets, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout
                ),
            )
        if cfg.peft_type == "prompt_tuning":
            if heads is None:
                raise ValueError("peft_type='prompt_tuning' needs a model with heads")
            if heads.prompts is None:
                heads.add_task_prompts(cfg.num_virtual_tokens, list(cfg.prompt_init_ids))
            heads.active_prompt = 0  # one prompt shared by every task
        self._set_trainable(model, 0)
        return model

    def _set_trainable(self, model: nn.Module, t: int) -> None:
        cfg = self.config
        heads = self._heads_model(model)
        body_on = not self.encoder_frozen and not (
            cfg.fix_encoder and (t > 0 or not cfg.warmup_epochs)
        )
        if cfg.fix_encoder and not body_on:
            self.encoder_frozen = True
        for name, p in self._body_params(model):
            on = body_on
            if cfg.peft_type == "lora":
                on = body_on and (".lora_A" in name or ".lora_B" in name)
            elif cfg.peft_type == "prompt_tuning":
                on = False
            if t >= cfg.freeze_from_task:
                index = _layer_index(name)
                if index is not None and index in cfg.freeze_layers:
                    on = False
                if cfg.freeze_embeddings and _EMBED.search(name):
                    on = False
            p.requires_grad_(on)
        if heads is not None:
            for k, head in enumerate(heads.heads):
                head.requires_grad_(not (cfg.fix_old_classifier and k < t))
            if heads.prompts is not None:
                heads.prompts.requires_grad_(False)
                heads.prompts[0].requires_grad_(cfg.peft_type == "prompt_tuning" and body_on)

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        cfg = self.config
        self._set_trainable(model, task.index)
        self.warming = task.index == 0 and cfg.warmup_epochs > 0
        self.warmup_steps = cfg.warmup_epochs * self._steps_per_epoch(task) if self.warming else 0

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        return data if self.replay is None else self.replay.task_train_data(task, data)

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        return examples if self.replay is None else self.replay.batch_examples(task, examples)

    @staticmethod
    def _steps_per_epoch(task: TaskContext) -> int:
        if "steps_per_epoch" in task.params:
            return int(task.params["steps_per_epoch"])
        if task.steps_per_epoch is None:
            raise ValueError("the warm-up needs the task's steps_per_epoch (TaskContext)")
        return task.steps_per_epoch

    def configure_optimizer(
        self, params: list[nn.Parameter], default: OptimizerFactory
    ) -> torch.optim.Optimizer:
        """AdamW: the body's parameters in one group (the trainer's lr and weight decay), each
        head's in its own group (``classifier_lr``, ``classifier_weight_decay``)."""
        heads = self._heads
        owner = {}
        if heads is not None:
            owner = {id(p): t for t, head in enumerate(heads.heads) for p in head.parameters()}
        body = [p for p in params if id(p) not in owner]
        per_head: dict[int, list[nn.Parameter]] = {}
        for p in params:
            if id(p) in owner:
                per_head.setdefault(owner[id(p)], []).append(p)
        head_groups = [
            {
                "params": per_head[t],
                "lr": self.config.classifier_lr,
                "weight_decay": self.config.classifier_weight_decay,
            }
            for t in sorted(per_head)
        ]
        optimizer = default(body if body else head_groups[0]["params"])
        if not body:
            optimizer.param_groups[0].update(
                lr=self.config.classifier_lr, weight_decay=self.config.classifier_weight_decay
            )
            head_groups = head_groups[1:]
        for group in head_groups:
            optimizer.add_param_group(group)
        return optimizer

    def task_optimizer(
        self, task: TaskContext, params: list[nn.Parameter], default: OptimizerFactory
    ) -> torch.optim.Optimizer:
        """By ``optimizer_scope``; heads frozen by ``fix_old_classifier`` get lr 0 in it, as the
        codebase does (their parameters also have no gradient, so nothing moves them)."""
        optimizer = super().task_optimizer(task, params, default)
        if self.config.fix_old_classifier and self._heads is not None and task.index > 0:
            frozen = {id(p) for p in self._heads.head_parameters(range(task.index))}
            for group in optimizer.param_groups:
                if group["params"] and all(id(p) in frozen for p in group["params"]):
                    group["lr"] = group["initial_lr"] = 0.0
        self.current_optimizer = optimizer
        return optimizer

    def forward_loss(self, batch: dict[str, Any], model: nn.Module):
        cfg = self.config
        if self.warming and cfg.warmup_target == "causal-lm":
            inner = self._heads_model(model)
            return inner.lm_loss(batch["input_ids"], batch.get("attention_mask")), None
        if cfg.prototype_prediction and not self.warming:
            return torch.zeros((), requires_grad=True), None  # no CE: heads come from prototypes
        return None

    def after_optimizer_step(self, model: nn.Module, step: StepInfo) -> None:
        if self.warming and step.step >= self.warmup_steps:
            self.warming = False
            if self.config.fix_encoder:
                self._freeze_body(model)

    def _freeze_body(self, model: nn.Module) -> None:
        frozen = {id(p) for _, p in self._body_params(model)}
        for _, p in self._body_params(model):
            p.requires_grad_(False)
            p.grad = None
        optimizer = self.current_optimizer
        if optimizer is not None:
            for group in optimizer.param_groups:
                group["params"] = [p for p in group["params"] if id(p) not in frozen]
            for key in [k for k in optimizer.state if id(k) in frozen]:
                del optimizer.state[key]
        self.encoder_frozen = True

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        if self.warming and self.config.fix_encoder:  # the task ended inside the warm-up
            self._freeze_body(model)
        self.warming = False
        if self.config.prototype_prediction:
            self.set_prototypes(task, model)
        if self.replay is not None:
            self.replay.end_task(task, model)

    @torch.no_grad()
    def set_prototypes(self, task: TaskContext, model: nn.Module, batch_size: int = 32) -> None:
        heads = self._heads_model(model)
        if task.train_data is None or task.collate is None:
            raise ValueError("prototype prediction needs the task's train_data and collate")
        t = task.index
        was_training = heads.training
        heads.eval()
        device = next(heads.parameters()).device
        feats, labels = [], []
        data = list(task.train_data)
        for start in range(0, len(data), batch_size):
            batch = task.collate(data[start : start + batch_size])
            inputs = {
                k: batch[k].to(device)
                for k in ("input_ids", "attention_mask", "token_type_ids")
                if k in batch
            }
            feats.append(heads.features(**inputs).float().cpu())
            labels.append(batch["labels"].cpu() - heads.labels.pre_accum[t])
        heads.train(was_training)
        rows = class_means(torch.cat(feats), torch.cat(labels), heads.labels.cur_num_class[t])
        heads.heads.set_rows(t, rows)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"encoder_frozen": self.encoder_frozen}
        if self.replay is not None:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder_frozen = bool(state.get("encoder_frozen", False))
        if "replay" in state:
            if self.replay is None:
                raise ValueError("checkpoint has a replay buffer but replay is off in the config")
            self.replay.load_state_dict(state["replay"])

"""ProgPrompt (Progressive Prompts, spec classic-methods.md §2.9): TIL only.

On a backbone with per-task heads (a TIL :class:`~cl_methods.classic.ClassifierModel`, the
spec's encoder input) the model becomes a
:class:`~cl_methods.classic.progressive_prompts.ProgressivePromptClassifier`: ``x`` without its
CLS followed by ``[P_0..P_t]``, each prompt's first token at position 0 acting as its task's CLS,
the state at ``P_t``'s first token fed to head t (which trains with ``classifier_lr``).

A plain causal LM is wrapped in a
:class:`~cl_methods.classic.progressive_prompts.ProgressivePromptLM` and frozen. Task ``t`` gets
5 new prompt rows ``P_t`` (row 0 from the BOS/CLS embedding, the others from random vocabulary
rows) and a residual MLP (d->800->800->d, ReLU then Tanh, plus input) applied to ``P_t`` only;
its input is ``[P'_0 ... P'_{t-1}, MLP_t(P_t)] ⊕ x`` with the LM loss. Only ``P_t`` and ``MLP_t``
train (a fresh AdamW per task with weight decay 0, so decay and momentum never move an old
prompt: they have no gradient and are not in the optimizer). At the task's end
``P'_t = MLP_t(P_t)`` is stored and frozen for good. Task ``j`` is evaluated with
``P'_0 .. P'_j`` exactly as trained.

The scenario must give the task at test time: CIL is refused (use TIL; IIL, where each task is
scored with its own prompts, runs too).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from ..adapters.inject import unwrap_model
from ..classic.backbones import ClassifierModel
from ..classic.progressive_prompts import (
    ProgressivePromptClassifier,
    ProgressivePromptLM,
    ProgressivePromptView,
)
from ..method import Method, MethodConfig, RunInfo, TaskContext
from ..registry import register_method


@dataclass
class ProgPromptConfig(MethodConfig):
    num_virtual_tokens: int = field(
        default=5, metadata={"help": "prompt rows per task (ProgPrompt 5)"}
    )
    mlp: bool = field(default=True, metadata={"help": "per-task residual MLP on P_t"})
    mlp_hidden: int = field(default=800, metadata={"help": "hidden width of the residual MLP"})
    first_token_id: int | None = field(
        default=None,
        metadata={"help": "token whose embedding starts every prompt; null: the tokenizer's "
                  "CLS, else BOS, else a random row"},
    )  # fmt: skip
    num_tasks: int = field(
        default=0, metadata={"help": "prompts to allocate; 0: the run's number of tasks"}
    )
    il_mode: Literal["TIL", "IIL"] | None = field(
        default=None, metadata={"help": "TIL or IIL (CIL is refused); null: the run's scenario"}
    )
    prompt_seed: int = field(default=1, metadata={"help": "seed of the random prompt rows"})
    strip_token_id: int | None = field(
        default=None,
        metadata={"help": "heads models: the leading token dropped from x (null: the tokenizer's "
                  "CLS, if any)"},
    )  # fmt: skip
    classifier_lr: float = field(
        default=1e-3, metadata={"help": "heads models: learning rate of head t (spec 1e-3)"}
    )
    classifier_weight_decay: float = field(
        default=0.01, metadata={"help": "heads models: weight decay of head t (spec 0.01)"}
    )

    def __post_init__(self) -> None:
        if self.il_mode not in (None, "TIL", "IIL"):
            raise ValueError(f"progprompt: il_mode must be TIL or IIL, got {self.il_mode!r}")
        if self.num_virtual_tokens < 1 or self.mlp_hidden < 1:
            raise ValueError("progprompt: num_virtual_tokens and mlp_hidden must be >= 1")


@register_method("progprompt")
class ProgPrompt(Method):
    config_class = ProgPromptConfig
    config: ProgPromptConfig

    def __init__(self, config: ProgPromptConfig | None = None) -> None:
        super().__init__(config)
        self.task_names: list[str] = []
        self.current = 0
        self._lm: ProgressivePromptLM | ProgressivePromptClassifier | None = None

    def bind_run(self, run: RunInfo) -> None:
        if run.scenario == "CIL":
            raise ValueError(
                "progprompt is task-incremental only (task j is decoded with prompts P_0..P_j, so "
                "the task id must be known at test time): set scenario TIL (or IIL), not CIL"
            )
        super().bind_run(run)
        cfg, updates = self.config, {}
        if not cfg.num_tasks:
            updates["num_tasks"] = run.num_tasks
        if cfg.il_mode is None:
            updates["il_mode"] = run.scenario or "TIL"
        tok = run.tokenizer
        cls = getattr(tok, "cls_token_id", None) if tok is not None else None
        if cfg.first_token_id is None and tok is not None:
            first = cls if cls is not None else getattr(tok, "bos_token_id", None)
            if first is not None:
                updates["first_token_id"] = int(first)
        if cfg.strip_token_id is None and cls is not None:
            updates["strip_token_id"] = int(cls)
        if updates:
            self.config = dataclasses.replace(cfg, **updates)

    def prepare(self, model: nn.Module) -> nn.Module:
        inner = unwrap_model(model)
        if isinstance(inner, (ProgressivePromptLM, ProgressivePromptClassifier)):
            self._lm = inner
            return inner
        cfg = self.config
        if isinstance(inner, ClassifierModel):
            if inner.il_mode != "TIL":
                raise ValueError(
                    "progprompt is task-incremental only: the heads model must be TIL, got "
                    f"{inner.il_mode}"
                )
            inner.requires_grad_(False)
            self._lm = ProgressivePromptClassifier(
                inner,
                cfg.num_virtual_tokens,
                cfg.mlp_hidden if cfg.mlp else None,
                cfg.first_token_id,
                None if inner.generative else cfg.strip_token_id,
                cfg.prompt_seed,
            )
            self._lm.to(inner.backbone.get_input_embeddings().weight.device)
            return self._lm
        if not hasattr(inner, "generate") or not hasattr(inner, "get_input_embeddings"):
            raise ValueError(
                "progprompt needs a causal LM with generate() (backbone.kind causal_lm, "
                f"backbone.head none), got {type(inner).__name__}"
            )
        if not cfg.num_tasks:
            raise ValueError("progprompt needs num_tasks (config) or bind_run(RunInfo) first")
        inner.requires_grad_(False)
        self._lm = ProgressivePromptLM(
            inner,
            cfg.num_tasks,
            cfg.num_virtual_tokens,
            cfg.mlp_hidden if cfg.mlp else None,
            cfg.first_token_id,
            cfg.prompt_seed,
        )
        self._lm.to(inner.get_input_embeddings().weight.device)
        return self._lm

    def _host(self) -> ProgressivePromptLM | ProgressivePromptClassifier:
        if self._lm is None:
            raise ValueError("progprompt: call prepare(model) before the first task")
        return self._lm

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        lm, t = self._host(), task.index
        if t >= len(lm.prompts):
            raise ValueError(f"progprompt allocated {len(lm.prompts)} prompts, task {t} starts")
        if t < len(self.task_names):
            self.task_names[t] = task.name
        else:
            self.task_names.append(task.name)
        self.current = t
        lm.finished = t  # tasks < t hold their reparameterised prompts (also after a resume)
        lm.requires_grad_(False)
        for p in lm.task_parameters(t):
            p.requires_grad_(True)
        if isinstance(lm, ProgressivePromptClassifier):
            lm.heads[t].requires_grad_(True)
        else:
            lm.active_prompt = t

    def configure_optimizer(self, params, default):
        lm = self._host()
        head = set()
        if isinstance(lm, ProgressivePromptClassifier):
            head = {id(p) for p in lm.heads[self.current].parameters()}
        optimizer = default([p for p in params if id(p) not in head])
        for group in optimizer.param_groups:  # spec: weight decay 0 on the prompts
            group["weight_decay"] = 0.0
        if head:
            optimizer.add_param_group(
                {
                    "params": [p for p in params if id(p) in head],
                    "lr": self.config.classifier_lr,
                    "weight_decay": self.config.classifier_weight_decay,
                }
            )
        return optimizer

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        lm = self._host()
        lm.finish_task(task.index)
        if isinstance(lm, ProgressivePromptClassifier):
            lm.heads[task.index].requires_grad_(False)

    def eval_model(self, model: nn.Module, task_name: str | None = None) -> nn.Module:
        lm = self._host()
        if isinstance(lm, ProgressivePromptClassifier):
            return lm  # the evaluator passes task j: head j on P_0..P_j
        if task_name in self.task_names:
            return ProgressivePromptView(lm, self.task_names.index(task_name))
        # an unseen task (eval_future / baseline): the prompts trained so far
        return ProgressivePromptView(lm, max(lm.finished - 1, 0))

    def state_dict(self) -> dict[str, Any]:
        return {"task_names": list(self.task_names), "current": self.current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.task_names = list(state.get("task_names", []))
        self.current = int(state.get("current", 0))

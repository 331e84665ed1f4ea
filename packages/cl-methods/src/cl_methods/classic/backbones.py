"""A backbone (encoder or decoder-only LM) plus per-task heads, as one trainable module.

Features (spec §1):
- discriminative (BERT-like encoders, right padding): ``cls_token`` = the first position, or
  ``last_token`` = the last attended position;
- generative (decoder-only LMs, left padding): the last layer's state at the last attended
  position, from a plain forward pass with gradients (the reference took it from ``generate()``
  under no_grad, so its backbone never trained).

The model is a :class:`~cl_methods.method.TaskAwareModel`: the trainer tells it which task starts
(``begin_task``); CIL logits then concatenate heads
``0..t`` (all ``T`` heads while training with ``preallocated``), and TIL routes every sample to the
head whose label range holds its global label and sums the per-head cross-entropies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..method import TaskAwareModel
from .heads import TaskHeads
from .scenarios import LabelSpace, check_il_mode
from .task_prompts import init_task_prompts, insert_prompt

FEATURES = ("cls_token", "last_token")


@dataclass
class ClassifierOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor
    features: torch.Tensor


def last_attended(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last attended position (left or right padding)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (positions + 1)).argmax(dim=-1)


class ClassifierModel(TaskAwareModel):
    """``backbone`` + ``heads``; ``generative`` says whether the backbone is a causal LM (its
    features come from ``output_hidden_states``; ``lm_loss`` serves the causal-LM warm-up)."""

    def __init__(
        self,
        backbone: nn.Module,
        labels: LabelSpace,
        *,
        il_mode: str = "CIL",
        head: str = "linear",
        cosine_scale: float | None = None,
        cosine_scale_learnable: bool = False,
        feature: str = "cls_token",
        generative: bool = False,
        preallocated: bool = False,
        hidden_size: int | None = None,
    ) -> None:
        super().__init__()
        self.il_mode = check_il_mode(il_mode)
        if self.il_mode == "IIL":
            raise ValueError("IIL is a generative scenario without heads; use the LM directly")
        if feature not in FEATURES:
            raise ValueError(f"feature must be one of {FEATURES}, got {feature!r}")
        if generative and feature == "cls_token":
            feature = "last_token"
        self.backbone = backbone
        self.labels = labels
        self.feature = feature
        self.generative = generative
        self.preallocated = preallocated
        d = hidden_size or int(backbone.config.hidden_size)
        self.heads = TaskHeads(d, labels.cur_num_class, head, cosine_scale, cosine_scale_learnable)
        self.current_task = 0
        self.prompts: nn.ParameterList | None = None
        self.active_prompt = -1

    @property
    def config(self):  # adapters and apps read the backbone's config
        return self.backbone.config

    def begin_task(self, index: int) -> None:
        if not 0 <= index < self.labels.num_tasks:
            raise ValueError(f"task {index} outside the {self.labels.num_tasks} labelled tasks")
        self.current_task = int(index)

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())

    def head_parameters(self, tasks: range | list[int] | None = None) -> list[nn.Parameter]:
        tasks = range(len(self.heads)) if tasks is None else tasks
        return [p for t in tasks for p in self.heads[t].parameters()]

    def features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if position_ids is not None:
            kwargs["position_ids"] = position_ids
        offset = 0
        if self.prompts is not None and self.active_prompt >= 0:
            kwargs, offset = self._with_prompt(kwargs)
        if self.generative:
            out = self.backbone(**kwargs, output_hidden_states=True)
            states = out.hidden_states[-1]
        else:
            states = self.backbone(**kwargs).last_hidden_state
        if self.feature == "cls_token":
            return states[:, offset]  # the real first token, after any virtual tokens
        rows = torch.arange(states.shape[0], device=states.device)
        return states[rows, last_attended(kwargs["attention_mask"])]

    # -- prompt tuning (one prompt per task, spec §2.3) ------------------------------------------
    def add_task_prompts(
        self, num_tokens: int, init_ids: list[int] | None = None, seed: int = 1
    ) -> nn.ParameterList:
        """One ``[num_tokens, d]`` prompt per task, initialised from the embeddings of
        ``init_ids`` (repeated to ``num_tokens``) or of random vocabulary tokens."""
        table = self.backbone.get_input_embeddings().weight
        self.prompts = init_task_prompts(table, self.labels.num_tasks, num_tokens, init_ids, seed)
        self.active_prompt = -1
        return self.prompts

    def _with_prompt(self, kwargs: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
        """Insert the active task's virtual tokens as input embeddings (attended, type 0) before
        each row's first attended token (after any left padding; at the start otherwise)."""
        prompt = self.prompts[self.active_prompt]
        embeds = self.backbone.get_input_embeddings()(kwargs["input_ids"])
        out = insert_prompt(
            prompt,
            embeds,
            kwargs["attention_mask"],
            position_ids=kwargs.get("position_ids"),
            token_type_ids=kwargs.get("token_type_ids"),
        )
        out.pop("real_pos")
        return out, prompt.shape[0]

    def cil_logits(self, features: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        if upto is None:
            last = self.labels.num_tasks - 1
            upto = last if (self.training and self.preallocated) else self.current_task
        return self.heads.logits(features, upto)

    def til_logits(self, features: torch.Tensor, task: int) -> torch.Tensor:
        return self.heads[task](features)

    def til_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Sum over the heads present in the batch of their CE on task-local labels."""
        tasks = self.labels.tasks_of(labels)
        total = features.new_zeros(())
        for t in torch.unique(tasks).tolist():
            rows = tasks == t
            local = labels[rows] - self.labels.pre_accum[t]
            total = total + F.cross_entropy(self.heads[t](features[rows]), local)
        return total

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        features = self.features(input_ids, attention_mask, token_type_ids, position_ids)
        logits = self.cil_logits(features)
        loss = None
        if labels is not None:
            if self.il_mode == "TIL":
                loss = self.til_loss(features, labels)
            else:
                loss = F.cross_entropy(logits, labels)
        return ClassifierOutput(loss=loss, logits=logits, features=features)

    def lm_loss(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Causal-LM loss over every attended token (the generative warm-up target)."""
        if not self.generative:
            raise ValueError("the causal-lm warm-up needs a generative backbone; use ce-loss")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss

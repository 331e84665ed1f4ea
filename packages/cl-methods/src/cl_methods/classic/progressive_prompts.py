"""Progressive prompts (ProgPrompt, spec classic-methods.md §2.9) on a frozen causal LM
(:class:`ProgressivePromptLM`, generative input) or on a frozen backbone with per-task heads
(:class:`ProgressivePromptClassifier`, encoder input; see its docstring).

Task ``t`` owns a prompt ``P_t`` of ``num_tokens`` rows (5) and, optionally, a residual MLP
``MLP_t(P) = P + L3(tanh(L2(relu(L1(P)))))`` with ``L1: d->800``, ``L2: 800->800``,
``L3: 800->d`` (the spec's "d->800 ReLU ->800 Tanh ->d, plus input"), applied to the rows of
``P_t`` only. Task ``j``'s input is ``[P'_0 ... P'_{j-1}, MLP_j(P_j)] ⊕ x``: every prompt of the
tasks up to ``j`` goes before the text (after any left padding, as
:class:`~cl_methods.classic.task_prompts.PromptTunedLM` places its virtual tokens). When task
``t`` ends, ``P'_t = MLP_t(P_t)`` is written into ``prompts[t]`` and ``finished`` moves past it:
a finished prompt is used as stored (its MLP is never applied again), so inference with
``P_0..P_j`` sees exactly what training saw.

Initialisation: row 0 of every prompt copies the embedding of ``first_token_id`` (BOS/CLS, the
token that opens the task's block), the other rows copy the embeddings of random vocabulary
tokens (one seeded draw per task; every row of every prompt is initialised).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..method import TaskAwareModel
from .backbones import ClassifierModel, ClassifierOutput, last_attended
from .task_prompts import PromptTunedLM, insert_prompt


class ResidualMLP(nn.Module):
    """``x + L3(tanh(L2(relu(L1(x)))))``, ``d -> hidden -> hidden -> d``."""

    def __init__(self, dim: int, hidden: int = 800) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def init_progressive_prompts(
    table: torch.Tensor,
    num_tasks: int,
    num_tokens: int,
    first_token_id: int | None,
    seed: int = 1,
) -> nn.ParameterList:
    """``num_tasks`` prompts ``[num_tokens, d]``: row 0 = ``table[first_token_id]`` (a random row
    when None), rows 1.. = random vocabulary rows (seeded)."""
    if num_tasks < 1 or num_tokens < 1:
        raise ValueError(f"need >= 1 task and >= 1 prompt token, got {num_tasks}, {num_tokens}")
    vocab = table.shape[0]
    if first_token_id is not None and not 0 <= int(first_token_id) < vocab:
        raise ValueError(f"first_token_id {first_token_id} outside the vocabulary [0, {vocab})")
    gen = torch.Generator().manual_seed(seed)
    prompts = []
    for _ in range(num_tasks):
        ids = torch.randint(0, vocab, (num_tokens,), generator=gen)
        if first_token_id is not None:
            ids[0] = int(first_token_id)
        prompts.append(nn.Parameter(table[ids.to(table.device)].detach().clone()))
    return nn.ParameterList(prompts)


class ProgressiveRows:
    """What both progressive-prompt models share; they hold ``prompts`` (one ``[n, d]`` parameter
    per task), ``mlps`` (one residual MLP per task, or None) and ``finished`` (tasks whose prompt
    holds its final value)."""

    prompts: nn.ParameterList
    mlps: nn.ModuleList | None
    finished: int

    def task_parameters(self, task: int) -> list[nn.Parameter]:
        """What task ``task`` trains: ``P_task`` and ``MLP_task``."""
        params = [self.prompts[task]]
        if self.mlps is not None:
            params += list(self.mlps[task].parameters())
        return params

    def task_prompt(self, task: int) -> torch.Tensor:
        """``P_task`` as the model uses it: stored when finished, else through its MLP."""
        p = self.prompts[task]
        if task >= self.finished and self.mlps is not None:
            p = self.mlps[task](p)
        return p

    def progressive_prompt(self, upto: int) -> torch.Tensor:
        """``[P_0 ... P_upto]``, rows concatenated: ``[(upto + 1) * num_tokens, d]``."""
        if not 0 <= upto < len(self.prompts):
            raise ValueError(f"prompt {upto} outside the {len(self.prompts)} task prompts")
        return torch.cat([self.task_prompt(s) for s in range(upto + 1)])

    @torch.no_grad()
    def finish_task(self, task: int) -> None:
        """Store ``P'_task = MLP_task(P_task)`` and freeze the task's prompt and MLP."""
        if task != self.finished:
            raise ValueError(f"finishing task {task} but {self.finished} tasks are finished")
        self.prompts[task].copy_(self.task_prompt(task))
        for p in self.task_parameters(task):
            p.requires_grad_(False)
        self.finished = task + 1


def _mlps(num_tasks: int, dim: int, hidden: int | None) -> nn.ModuleList | None:
    return nn.ModuleList(ResidualMLP(dim, hidden) for _ in range(num_tasks)) if hidden else None


class ProgressivePromptLM(ProgressiveRows, PromptTunedLM):
    """A frozen causal LM with progressive prompts; ``active_prompt = j`` uses ``P_0..P_j``."""

    def __init__(
        self,
        lm: nn.Module,
        num_tasks: int,
        num_tokens: int = 5,
        mlp_hidden: int | None = 800,
        first_token_id: int | None = None,
        seed: int = 1,
    ) -> None:
        super().__init__(lm)
        table = lm.get_input_embeddings().weight
        self.prompts = init_progressive_prompts(table, num_tasks, num_tokens, first_token_id, seed)
        self.mlps = _mlps(num_tasks, table.shape[1], mlp_hidden)
        self.finished = 0  # prompts[:finished] hold their final (reparameterised) values

    def with_prompt(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        embeds = self.lm.get_input_embeddings()(input_ids)
        return insert_prompt(
            self.progressive_prompt(self.active_prompt),
            embeds,
            attention_mask,
            labels=labels,
            position_ids=position_ids,
        )


class ProgressivePromptView(nn.Module):
    """Evaluation of task ``task`` with ``P_0..P_task`` (the training prompt is left as it was)."""

    def __init__(self, model: ProgressivePromptLM, task: int) -> None:
        super().__init__()
        self.model = model
        self.task = int(task)

    @property
    def config(self):
        return self.model.config

    def _run(self, fn, *args: Any, **kwargs: Any):
        previous, self.model.active_prompt = self.model.active_prompt, self.task
        try:
            return fn(*args, **kwargs)
        finally:
            self.model.active_prompt = previous

    def forward(self, *args: Any, **kwargs: Any):
        return self._run(self.model, *args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._run(self.model.generate, *args, **kwargs)


class ProgressivePromptClassifier(ProgressiveRows, TaskAwareModel):
    """ProgPrompt on a backbone with per-task heads (spec 2.9, encoder input), TIL.

    Task ``j``'s input is ``x`` without its leading CLS (``strip_token_id``) followed by
    ``[P_0 ... P_j]`` (after the row's last attended token, so right padding stays at the end).
    Position ids: 1..L for the text, 0 for the first token of every prompt (each acts as its
    task's CLS), and the remaining prompt tokens continue after L. The feature is the last layer's
    state at ``P_j``'s first token, fed to head ``j``; the loss is head ``t``'s cross-entropy on
    task-local labels.
    """

    def __init__(
        self,
        base: ClassifierModel,
        num_tokens: int = 5,
        mlp_hidden: int | None = 800,
        first_token_id: int | None = None,
        strip_token_id: int | None = None,
        seed: int = 1,
    ) -> None:
        super().__init__()
        if base.il_mode != "TIL":
            raise ValueError(f"progprompt needs a TIL heads model, got il_mode={base.il_mode}")
        self.base = base
        table = base.backbone.get_input_embeddings().weight
        num_tasks = base.labels.num_tasks
        self.num_tokens = int(num_tokens)
        self.prompts = init_progressive_prompts(table, num_tasks, num_tokens, first_token_id, seed)
        self.mlps = _mlps(num_tasks, table.shape[1], mlp_hidden)
        self.finished = 0
        self.strip_token_id = strip_token_id
        self.current_task = 0

    @property
    def config(self):
        return self.base.config

    @property
    def heads(self):
        return self.base.heads

    @property
    def labels(self):
        return self.base.labels

    def begin_task(self, index: int) -> None:
        self.base.begin_task(index)
        self.current_task = int(index)

    def layout(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: int
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The backbone's inputs (``inputs_embeds``, ``attention_mask``, ``position_ids``) and
        the index of ``P_task``'s first token in every row."""
        if self.strip_token_id is not None and bool((input_ids[:, 0] == self.strip_token_id).all()):
            input_ids, attention_mask = input_ids[:, 1:], attention_mask[:, 1:]
        embeds = self.base.backbone.get_input_embeddings()(input_ids)
        prompt = self.progressive_prompt(task).to(embeds.dtype)
        (b, length, d), m, n = embeds.shape, prompt.shape[0], self.num_tokens
        device = embeds.device
        last = last_attended(attention_mask)
        k = torch.arange(length, device=device).expand(b, length)
        real_pos = k + m * (k > last[:, None]).long()
        virtual_pos = last[:, None] + 1 + torch.arange(m, device=device)
        index = torch.cat([virtual_pos, real_pos], 1)

        def place(values: torch.Tensor) -> torch.Tensor:
            return values.new_zeros(b, length + m).scatter(1, index, values)

        source = torch.cat([prompt.unsqueeze(0).expand(b, -1, -1), embeds], 1)
        inputs_embeds = embeds.new_zeros(b, length + m, d).scatter(
            1, index.unsqueeze(-1).expand(-1, -1, d), source
        )
        mask = attention_mask.long()
        text_pos = mask.cumsum(-1) * mask  # 1..L on the text, 0 on pads
        first = torch.arange(m, device=device) % n == 0
        rest = (~first).long().cumsum(0)  # 1, 2, ... over the non-first prompt tokens
        prompt_pos = torch.where(first, 0, mask.sum(-1, keepdim=True) + rest)
        inputs = {
            "inputs_embeds": inputs_embeds,
            "attention_mask": place(torch.cat([mask.new_ones(b, m), mask], 1)),
            "position_ids": place(torch.cat([prompt_pos, text_pos], 1)),
        }
        return inputs, virtual_pos[:, task * n]

    def features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        task: int | None = None,
    ) -> torch.Tensor:
        """The state at ``P_task``'s first token (``task`` None: the current task)."""
        task = self.current_task if task is None else int(task)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs, at = self.layout(input_ids, attention_mask, task)
        if self.base.generative:
            states = self.base.backbone(**inputs, output_hidden_states=True).hidden_states[-1]
        else:
            states = self.base.backbone(**inputs).last_hidden_state
        return states[torch.arange(states.shape[0], device=states.device), at]

    def predict_logits(self, inputs: dict[str, torch.Tensor], task: int | None) -> torch.Tensor:
        if task is None:
            raise ValueError("progprompt is TIL only: evaluation needs the task id")
        return self.heads[task](self.features(**inputs, task=task))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        t = self.current_task
        features = self.features(input_ids, attention_mask, task=t)
        logits = self.heads[t](features)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, labels - self.labels.pre_accum[t])
        return ClassifierOutput(loss=loss, logits=logits, features=features)

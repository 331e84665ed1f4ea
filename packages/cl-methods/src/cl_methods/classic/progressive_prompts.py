"""Progressive prompts (ProgPrompt, spec classic-methods.md §2.9) on a frozen causal LM.

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
from torch import nn

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


class ProgressivePromptLM(PromptTunedLM):
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
        dim = table.shape[1]
        self.mlps = (
            nn.ModuleList(ResidualMLP(dim, mlp_hidden) for _ in range(num_tasks))
            if mlp_hidden
            else None
        )
        self.finished = 0  # prompts[:finished] hold their final (reparameterised) values

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

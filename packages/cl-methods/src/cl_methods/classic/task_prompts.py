"""Per-task soft prompts (prompt tuning, spec §2.3) and a plain causal LM that uses them.

:func:`init_task_prompts` builds one ``[num_tokens, d]`` prompt per task from the embeddings of
the dataset's init text (§3.3, repeated to ``num_tokens``) or of random vocabulary rows; both
:class:`~cl_methods.classic.ClassifierModel` (heads models) and :class:`PromptTunedLM` (plain
generative LMs) use it.

:class:`PromptTunedLM` wraps a frozen ``*ForCausalLM``; ``active_prompt`` (``-1``: none) selects
the task whose virtual tokens are inserted. The virtual tokens go immediately before each row's
first attended token, i.e. after any left padding (``[pad pad P P x x]``) and at the start of a
right-padded row (``[P P x x pad]``), so a left-padded batch sees the same sequence as each row
alone. Virtual positions are attended (mask 1), never targets (labels -100), and stripped from
the returned logits, which therefore align with ``input_ids``. Position ids count from each row's
first real token (as ``generate`` does from the mask; given ``position_ids``, e.g. from a
left-padding collator, are kept and shifted by the prompt length). ``generate`` returns
``input_ids`` followed by the continuation, like a decoder-only ``generate`` on ids.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import CausalLMOutputWithPast


def init_task_prompts(
    table: torch.Tensor,
    num_tasks: int,
    num_tokens: int,
    init_ids: list[int] | tuple[int, ...] | None = None,
    seed: int = 1,
) -> nn.ParameterList:
    """``num_tasks`` prompts of ``num_tokens`` rows of the embedding ``table``: those of
    ``init_ids`` (cycled) or of random vocabulary tokens (one draw per task, seeded)."""
    if num_tasks < 1 or num_tokens < 1:
        raise ValueError(f"need >= 1 task and >= 1 virtual token, got {num_tasks}, {num_tokens}")
    if init_ids and not all(0 <= int(i) < table.shape[0] for i in init_ids):
        raise ValueError(f"prompt_init_ids outside the vocabulary [0, {table.shape[0]})")
    gen = torch.Generator().manual_seed(seed)
    prompts = []
    for _ in range(num_tasks):
        if init_ids:
            ids = torch.tensor([int(init_ids[k % len(init_ids)]) for k in range(num_tokens)])
        else:
            ids = torch.randint(0, table.shape[0], (num_tokens,), generator=gen)
        prompts.append(nn.Parameter(table[ids.to(table.device)].detach().clone()))
    return nn.ParameterList(prompts)


def prompt_layout(attention_mask: torch.Tensor, num_virtual: int) -> tuple[torch.Tensor, ...]:
    """Where tokens go once ``num_virtual`` virtual tokens are inserted before each row's first
    attended position: ``(real_pos [b, L], virtual_pos [b, n])`` in the ``L + n`` layout."""
    b, length = attention_mask.shape
    device = attention_mask.device
    attended = attention_mask.bool()
    first = torch.where(
        attended.any(dim=1), attended.long().argmax(dim=1), torch.zeros_like(attended[:, 0].long())
    )
    k = torch.arange(length, device=device).expand(b, length)
    real_pos = k + num_virtual * (k >= first[:, None]).long()
    virtual_pos = first[:, None] + torch.arange(num_virtual, device=device)
    return real_pos, virtual_pos


def insert_prompt(
    prompt: torch.Tensor,
    embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Insert the ``[n, d]`` ``prompt`` before each row's first attended token of ``embeds``
    (:func:`prompt_layout`): ``inputs_embeds``, ``attention_mask`` (1 on virtual tokens),
    ``real_pos`` (where each input token went) and, when given, ``labels`` (-100 on virtual
    tokens), ``token_type_ids`` (0 there) and ``position_ids`` (the virtual tokens take those
    from the first real token's on, the real tokens move ``n`` further)."""
    n, (b, length, d) = prompt.shape[0], embeds.shape
    real_pos, virtual_pos = prompt_layout(attention_mask, n)
    index = torch.cat([virtual_pos, real_pos], dim=1)

    def place(virtual: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return real.new_zeros(b, n + length).scatter(1, index, torch.cat([virtual, real], 1))

    source = torch.cat([prompt.to(embeds.dtype).unsqueeze(0).expand(b, -1, -1), embeds], 1)
    out = {
        "inputs_embeds": source.new_zeros(b, n + length, d).scatter(
            1, index.unsqueeze(-1).expand(-1, -1, d), source
        ),
        "attention_mask": place(attention_mask.new_ones(b, n), attention_mask),
        "real_pos": real_pos,
    }
    if position_ids is not None:
        rows = torch.arange(b, device=embeds.device)
        first = position_ids[rows, virtual_pos[:, 0]]  # the first real token's position
        virtual = first[:, None] + torch.arange(n, device=embeds.device)
        out["position_ids"] = place(virtual, position_ids + n)
    if token_type_ids is not None:
        out["token_type_ids"] = place(token_type_ids.new_zeros(b, n), token_type_ids)
    if labels is not None:
        out["labels"] = place(labels.new_full((b, n), -100), labels)
    return out


class PromptTunedLM(nn.Module):
    """A causal LM with one soft prompt per task; only the active prompt is used."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.prompts: nn.ParameterList | None = None
        self.active_prompt = -1

    @property
    def config(self):
        return self.lm.config

    @property
    def generation_config(self):
        return self.lm.generation_config

    def get_input_embeddings(self) -> nn.Module:
        return self.lm.get_input_embeddings()

    def add_task_prompts(
        self,
        num_tasks: int,
        num_tokens: int,
        init_ids: list[int] | tuple[int, ...] | None = None,
        seed: int = 1,
    ) -> nn.ParameterList:
        table = self.lm.get_input_embeddings().weight
        self.prompts = init_task_prompts(table, num_tasks, num_tokens, init_ids, seed)
        self.active_prompt = -1
        return self.prompts

    def _prompted(self) -> bool:
        return self.prompts is not None and self.active_prompt >= 0

    def with_prompt(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """:func:`insert_prompt` of the active prompt into ``input_ids``' embeddings."""
        embeds = self.lm.get_input_embeddings()(input_ids)
        return insert_prompt(
            self.prompts[self.active_prompt],
            embeds,
            attention_mask,
            labels=labels,
            position_ids=position_ids,
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ):
        if not self._prompted():
            return self.lm(
                input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs
            )
        if kwargs.get("past_key_values") is not None:
            raise ValueError("PromptTunedLM takes no past_key_values (the prompt is re-inserted)")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        position_ids = kwargs.pop("position_ids", None)
        if position_ids is None:  # counted from each row's first real token, as in generate()
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        inputs = self.with_prompt(input_ids, attention_mask, labels, position_ids)
        real_pos = inputs.pop("real_pos")
        out = self.lm(**inputs, use_cache=False, **kwargs)
        v = out.logits.shape[-1]
        logits = out.logits.gather(1, real_pos.unsqueeze(-1).expand(-1, -1, v))
        return CausalLMOutputWithPast(loss=out.loss, logits=logits)

    @torch.no_grad()
    def generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if not self._prompted():
            return self.lm.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        inputs = self.with_prompt(input_ids, attention_mask)
        inputs.pop("real_pos")
        new = self.lm.generate(**inputs, **kwargs)  # inputs_embeds only: the continuation
        return torch.cat([input_ids, new.to(input_ids.device)], dim=1)

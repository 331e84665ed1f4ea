"""SeqLoRA: one LoRA adapter trained continuously across all tasks (never stacked)."""

from __future__ import annotations

from ..registry import register_method
from ._stacked import StackedAdapterMethod


@register_method("seqlora")
class SeqLoRA(StackedAdapterMethod):
    stack_per_task = False

"""IncLoRA: a new adapter per task, earlier ones frozen and stacked, no regulariser."""

from __future__ import annotations

from ..registry import register_method
from ._stacked import StackedAdapterMethod


@register_method("inclora")
class IncLoRA(StackedAdapterMethod):
    stack_per_task = True

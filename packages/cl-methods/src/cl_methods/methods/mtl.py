"""MTL: one LoRA adapter trained jointly on the union of all tasks (the upper bound).

The trainer sees ``joint_training`` and trains a single task made of every task's examples, then
evaluates each task once (the accuracy matrix has one row).
"""

from __future__ import annotations

from ..registry import register_method
from ._stacked import StackedAdapterMethod


@register_method("mtl")
class MTL(StackedAdapterMethod):
    stack_per_task = False
    joint_training = True

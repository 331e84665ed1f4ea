"""MTL, the upper bounds: joint training on the union of all tasks.

The trainer sees ``joint_training`` and trains a single task made of every task's examples, then
evaluates each task once (the accuracy matrix has one row).

- ``mtl``: one LoRA adapter (the LoRA family's bound, as in the O-LoRA and N-LoRA papers);
- ``mtl_ft``: every weight (the bound of the full fine-tuning family: SEQ, Replay, EWC, DER++);
  with a heads backbone every head trains too.
"""

from __future__ import annotations

from ..registry import register_method
from ._stacked import StackedAdapterMethod
from .seqft import SeqFT


@register_method("mtl")
class MTL(StackedAdapterMethod):
    stack_per_task = False
    joint_training = True


@register_method("mtl_ft")
class MTLFullFineTuning(SeqFT):
    joint_training = True

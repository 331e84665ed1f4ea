"""Replay: sequential full fine-tuning plus a replay buffer (spec classic-methods.md 2.2).

The buffer itself is :mod:`cl_methods.replay`; other methods get it through ``ReplayMixin`` and
the ``replay_*`` fields of their config (EWC: ``build_method("ewc", {"replay": True})``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..method import MethodConfig
from ..registry import register_method
from ..replay import ReplayMixin, ReplayOptions
from .seqft import SeqFT


@dataclass
class ReplayConfig(ReplayOptions, MethodConfig):
    """Spec defaults: capacity 100, random selection, batch-level mixing."""

    replay: bool = field(default=True, metadata={"help": "turn replay on"})


@register_method("replay")
class ReplaySeqFT(ReplayMixin, SeqFT):
    config_class = ReplayConfig

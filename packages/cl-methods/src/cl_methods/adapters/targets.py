"""The papers' adapter targets, chosen from the modules a model actually has (never from the
model's name or path): T5 attention ``q``/``v``; LLaMA-style ``q_proj``/``v_proj``."""

from __future__ import annotations

from torch import nn

KNOWN_TARGETS: tuple[tuple[str, ...], ...] = (("q", "v"), ("q_proj", "v_proj"))


def paper_targets(model: nn.Module) -> tuple[str, ...]:
    """``("q", "v")`` for T5-style attention, ``("q_proj", "v_proj")`` for LLaMA-style models."""
    leaves = {
        name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, nn.Linear)
    }
    for targets in KNOWN_TARGETS:
        if set(targets) <= leaves:
            return targets
    raise ValueError(
        f"cannot choose adapter targets for {type(model).__name__}: it has none of "
        f"{[list(t) for t in KNOWN_TARGETS]}; pass `targets` explicitly "
        f"(its Linear modules end in: {sorted(leaves)[:12]})"
    )

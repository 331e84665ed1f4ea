"""Field helpers shared by the apps' configuration dataclasses: help text with bounds, and the
fields every training app has with the same meaning (divergence stop, trackers, progress, plot)."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def h(text: str, **bounds: float) -> dict[str, Any]:
    """Field metadata: the ``--help`` text and bounds (``gt``, ``min``) checked by the parser."""
    return {"help": text, **bounds}


def max_nonfinite() -> Any:
    """``max_consecutive_nonfinite``: the divergence stop of the trainer."""
    return field(
        default=5,
        metadata=h(
            "stop the run (exit 3) after this many optimizer steps in a row with a non-finite "
            "loss or gradient (0: never)",
            min=0,
        ),
    )


def log_with(default: str = "tensorboard") -> Any:
    """``log_with`` as one comma-separated string (the LoRA and KIF recipes)."""
    return field(default=default, metadata=h("comma-separated accelerate trackers, or none"))


def progress() -> Any:
    return field(default=True, metadata=h("progress bars"))


def plot() -> Any:
    return field(default=True, metadata=h("heatmap PNG"))

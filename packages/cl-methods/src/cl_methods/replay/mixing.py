"""Putting buffer examples into training: per batch, or appended to the task's data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .buffer import ReplayBuffer


def mix_examples(
    new: Sequence[Any], buffer: ReplayBuffer, k: int, rng: np.random.Generator
) -> list[Any]:
    """Batch-level replay on raw examples: the new rows, then ``k`` buffer rows drawn with
    replacement (an empty buffer adds nothing). Rows keep their own fields (strings too)."""
    return [*new, *buffer.sample(k, rng)]


def dataset_with_buffer(data: Sequence[Any], buffer: ReplayBuffer) -> list[Any]:
    """Dataset-level replay: the task's data followed by the buffer (the trainer shuffles every
    epoch, so the concatenation is shuffled before use)."""
    return [*data, *buffer.examples()]


def concat_batches(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    *,
    pad_values: Mapping[str, int] | None = None,
    padding_side: str = "right",
) -> dict[str, Any]:
    """Concatenate two collated batches row-wise: tensors along dim 0 (2-D tensors of different
    widths are padded on ``padding_side`` with ``pad_values[key]``, default 0), lists (strings)
    list-concatenated. Both batches must have the same keys. (DECISION: the reference crashed
    on string fields.)"""
    if set(a) != set(b):
        raise ValueError(f"batches have different keys: {sorted(a)} vs {sorted(b)}")
    pads = dict(pad_values or {})
    out: dict[str, Any] = {}
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            if x.dim() == 2 and x.shape[1] != y.shape[1]:
                width = max(x.shape[1], y.shape[1])
                x, y = (_pad(t, width, pads.get(key, 0), padding_side) for t in (x, y))
            out[key] = torch.cat([x, y.to(x.device)], dim=0)
        elif isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            out[key] = [*x, *y]
        else:
            raise TypeError(
                f"cannot concatenate field {key!r}: {type(x).__name__} and {type(y).__name__}"
            )
    return out


def _pad(t: torch.Tensor, width: int, value: int, side: str) -> torch.Tensor:
    extra = width - t.shape[1]
    if extra == 0:
        return t
    fill = t.new_full((t.shape[0], extra), value)
    return torch.cat([fill, t] if side == "left" else [t, fill], dim=1)

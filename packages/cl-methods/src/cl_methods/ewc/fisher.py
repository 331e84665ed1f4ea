"""The empirical Fisher of a model over a dataset (spec classic-methods.md 2.11).

- ``estimator="batch"`` (default, the reference): ``F = sum_b n_b * g_b**2 / sum_b n_b`` with
  ``g_b`` the gradient of the minibatch-mean loss.
- ``estimator="per_sample"``: ``F = (1/N) * sum_n g_n**2`` (one backward per example).

With batch size 1 the two agree. The caller puts the model in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from .ops import fisher_accumulate

Estimator = Literal["batch", "per_sample"]


def empirical_fisher(
    params: Sequence[nn.Parameter],
    examples: Sequence[Any],
    collate: Callable[[list[Any]], Any],
    loss_fn: Callable[[Any], torch.Tensor],
    *,
    estimator: Estimator = "batch",
    batch_size: int = 8,
    progress: bool = True,
) -> list[torch.Tensor]:
    """Fisher diagonals (float32, one per parameter) of ``loss_fn(collate(rows))`` over
    ``examples``. ``loss_fn`` must return the mean loss of the batch (it runs the forward)."""
    if estimator not in ("batch", "per_sample"):
        raise ValueError(f"Fisher estimator must be 'batch' or 'per_sample', got {estimator!r}")
    n = len(examples)
    if n == 0:
        raise ValueError("cannot estimate a Fisher over an empty dataset")
    size = 1 if estimator == "per_sample" else max(1, batch_size)
    fishers = [torch.zeros_like(p, dtype=torch.float32) for p in params]
    for p in params:
        p.grad = None
    starts = range(0, n, size)
    for start in tqdm(starts, desc=f"EWC Fisher ({estimator})", disable=not progress or None):
        rows = list(examples[start : start + size])
        loss = loss_fn(collate(rows))
        grads = torch.autograd.grad(loss, list(params), allow_unused=True)
        fisher_accumulate(fishers, grads, len(rows) / n)
    return fishers

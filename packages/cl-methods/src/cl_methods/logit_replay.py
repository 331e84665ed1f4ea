"""Loss terms of the logit-replay methods (DER++, CLS-ER), as plain functions on tensors.

A mixed batch holds ``n`` new rows, then the buffer rows (the :class:`cl_methods.replay.Replay`
component's batch-level mixing). The logits compared on buffer rows are:

- heads backbones: the class logits (``(B, C)``), CE on the class labels;
- generative backbones without heads: the vocabulary logits at the answer positions, i.e. the
  positions ``i`` whose next token ``labels[:, i + 1]`` is not -100 (``(K, V)`` for K answer
  tokens), CE on those next tokens. :func:`answer_logits` extracts them row by row, so a row's
  answer logits do not depend on the padding of the batch it sits in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

IGNORE = -100


def answer_mask(labels: torch.Tensor) -> torch.Tensor:
    """``(B, L-1)`` bool: position i predicts an answer token (``labels[:, i + 1] != -100``)."""
    return labels[:, 1:] != IGNORE


def answer_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The ``(K, V)`` vocabulary logits at the answer positions of ``logits`` ``(B, L, V)``,
    rows in order, positions in order within a row."""
    return logits[:, :-1][answer_mask(labels)]


def answer_targets(labels: torch.Tensor) -> torch.Tensor:
    """The ``(K,)`` answer tokens matching :func:`answer_logits`."""
    return labels[:, 1:][answer_mask(labels)]


def token_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the answer tokens of ``(B, L, V)`` logits."""
    return F.cross_entropy(answer_logits(logits, labels), answer_targets(labels))


def derpp_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    n_new: int,
    buffer_student: torch.Tensor,
    buffer_teacher: torch.Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    generative: bool = False,
    ce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """DER++: ``CE(new rows) + beta * CE(buffer rows) + alpha * MSE(student, teacher)``.

    ``logits``/``labels``: the whole batch (class logits and labels, or with ``generative``
    ``(B, L, V)`` logits and token labels); ``buffer_student`` and ``buffer_teacher``: the
    logits compared on the buffer rows, already cut to the dimensions the teacher knows (old
    classes) or to the answer positions; both the same shape. ``ce`` replaces the cross-entropy
    of the two CE terms, called on ``(logits[rows], labels[rows])`` (TIL heads: the model's
    per-head loss on the features). Returns every term and ``loss``."""
    if buffer_student.shape != buffer_teacher.shape:
        raise ValueError(
            f"DER++: student logits {tuple(buffer_student.shape)} and teacher logits "
            f"{tuple(buffer_teacher.shape)} differ"
        )
    if ce is None:
        ce = token_ce if generative else F.cross_entropy
    ce_new = ce(logits[:n_new], labels[:n_new])
    ce_buf = ce(logits[n_new:], labels[n_new:])
    mse = F.mse_loss(buffer_student, buffer_teacher.to(buffer_student.dtype))
    loss = ce_new + beta * ce_buf + alpha * mse
    return {"loss": loss, "ce_new": ce_new, "ce_buffer": ce_buf, "mse": mse}


def choose_ema_teacher(
    fast_logits: torch.Tensor, slow_logits: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """CLS-ER's teacher per row: the fast copy's logits where its softmax gives the gold class
    (``targets``) a strictly higher probability than the slow copy's, else the slow copy's.
    Returns ``(teacher_logits, fast_chosen)`` with ``fast_chosen`` a ``(N,)`` bool."""
    gold = targets.long().unsqueeze(1)
    p_fast = F.softmax(fast_logits.float(), dim=-1).gather(1, gold).squeeze(1)
    p_slow = F.softmax(slow_logits.float(), dim=-1).gather(1, gold).squeeze(1)
    fast = p_fast > p_slow
    return torch.where(fast.unsqueeze(1), fast_logits, slow_logits), fast


def clser_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    buffer_student: torch.Tensor,
    fast_logits: torch.Tensor,
    slow_logits: torch.Tensor,
    buffer_targets: torch.Tensor,
    *,
    lam: float = 0.1,
    generative: bool = False,
) -> dict[str, torch.Tensor]:
    """CLS-ER: ``CE(every row) + lam * MSE(student, chosen EMA teacher)`` on the buffer rows.

    ``buffer_student``/``fast_logits``/``slow_logits``: ``(N, C)`` logits of the buffer rows (or
    ``(K, V)`` at their answer positions), ``buffer_targets`` the gold class (token) of each."""
    ce = token_ce(logits, labels) if generative else F.cross_entropy(logits, labels)
    teacher, fast = choose_ema_teacher(fast_logits, slow_logits, buffer_targets)
    mse = F.mse_loss(buffer_student, teacher.to(buffer_student.dtype))
    return {"loss": ce + lam * mse, "ce": ce, "mse": mse, "fast_chosen": fast}

"""Losses of the LAMOL family on logits and ``-100``-masked labels (the HF shift: the logit at
position i predicts the token at i + 1).

- :func:`lm_loss`: token-mean cross-entropy over the supervised positions of the chosen rows
  (over all rows it equals the model's own ``loss``);
- :func:`kd_loss` (spec "KD term (shared)"): ``T^2 * mean_{i in P} KL(softmax(z^T_i / T) ||
  softmax(z^S_i / T))`` with P = {i : labels[i + 1] != -100}, the positions whose logits predict
  supervised tokens (DECISION of the spec: the shifted positions; the reference took
  ``labels[i] != -100``). The teacher is the target distribution: KL(teacher || student).

Both return a zero that keeps the graph when no position is selected (an empty subset of a batch
contributes 0, spec 2.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def supervised_positions(labels: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Bool mask (B, L-1) over ``logits[:, :-1]``: positions that predict a supervised token."""
    mask = labels[:, 1:] != IGNORE
    if rows is not None:
        mask = mask & rows.to(mask.device).bool()[:, None]
    return mask


def lm_loss(
    logits: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean next-token cross-entropy over the supervised positions of ``rows`` (all by default)."""
    mask = supervised_positions(labels, rows)
    if not mask.any():
        return logits.sum() * 0.0
    picked = logits[:, :-1][mask].float()
    return F.cross_entropy(picked, labels[:, 1:][mask])


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """``T^2 * mean_{i in P} KL(softmax(teacher_i / T) || softmax(student_i / T))``."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} != teacher {tuple(teacher_logits.shape)}"
        )
    mask = supervised_positions(labels, rows)
    if not mask.any():
        return student_logits.sum() * 0.0
    t = float(temperature)
    s = F.log_softmax(student_logits[:, :-1][mask].float() / t, dim=-1)
    p = F.log_softmax(teacher_logits[:, :-1][mask].float().detach() / t, dim=-1)
    kl = (p.exp() * (p - s)).sum(-1)
    return t * t * kl.mean()


def qa_gen_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]):
    """Logits of a LAMOL batch's QA and GEN sequences from ONE forward pass (both are padded to
    the same width by :class:`LamolCollator`): ``(qa_logits, gen_logits)``."""
    keys = ("input_ids", "attention_mask", "position_ids")
    inputs = {k: torch.cat([batch[k], batch["gen_" + k]]) for k in keys}
    logits = model(**inputs).logits
    n = batch["input_ids"].shape[0]
    return logits[:n], logits[n:]

"""Object-token accuracy and NLL of probes from teacher-forced logits (spec §8), in torch, for
meta-training validation. (cl-eval's ``cl_eval.ckl`` computes the same numbers for reports.)"""

from __future__ import annotations

import torch

from .loss import token_nll


@torch.no_grad()
def object_scores(
    logits: torch.Tensor, input_ids: torch.Tensor, target_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-probe (acc, nll), each shape (B,): means over the marked prediction positions.

    Predictions are compared at the mask positions, so a predicted id 0 counts like any other.
    """
    mask = target_mask.to(torch.float64)
    count = mask.sum(dim=-1)
    if bool((count <= 0).any()):
        raise ValueError("a probe has no object position in target_mask")
    correct = (logits[:, :-1].argmax(dim=-1) == input_ids[:, 1:]).to(torch.float64)
    nll = token_nll(logits, input_ids).to(torch.float64)
    return (correct * mask).sum(-1) / count, (nll * mask).sum(-1) / count

"""RHO-1 selective language modelling for CKL (spec §9, decision D2), as the RHO-1 paper defines it.

The reference model is the frozen theta0 from before any CKL training (it stays theta0 in every
TemporalWiki period). Each valid target is scored by the excess loss l_t(theta) - l_t(ref), or by
the probability gain p_theta - p_ref with ``criterion="prob_gain"`` (the TAALM reference's
criterion). Per sequence the ceil(k n) highest scores are kept (n valid targets, k = 0.6; stable
sort so the earlier position wins ties; pads excluded), and the loss is sum_kept l_t / ceil(k n),
then the batch mean. With Train-Attention weights (TAALM + RHO-1) the kept terms are weighted:
sum_kept w l / (sum_kept w + 1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import torch
from torch import nn
from torch.func import functional_call

from ..registry import register_method
from ..taalm.ckl_method import Batch, CklConfig, CklMethod, batch_ids_and_mask
from ..taalm.loss import target_mask, token_nll, weighted_sequence_loss


def keep_counts(valid: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """ceil(k n) per row, computed exactly (k taken as the decimal it is written as)."""
    k = Fraction(str(keep_ratio))
    if not 0 < k <= 1:
        raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
    n = valid.sum(dim=-1).long()
    return (n * k.numerator + k.denominator - 1) // k.denominator


def rho1_select(scores: torch.Tensor, valid: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """0/1 mask (same shape as scores) keeping the ceil(k n) highest-scoring valid positions of
    each row; ties go to the earlier position."""
    if torch.isnan(scores[valid.bool()]).any():
        raise ValueError("RHO-1 scores contain NaN")
    counts = keep_counts(valid, keep_ratio)
    masked = scores.masked_fill(~valid.bool(), float("-inf"))
    order = torch.sort(masked, dim=-1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(order.shape[-1], device=order.device).expand_as(order))
    keep = (ranks < counts[:, None]) & valid.bool()
    return keep.to(scores.dtype)


@dataclass
class Rho1Config(CklConfig):
    keep_ratio: float = field(
        default=0.6, metadata={"help": "share k of targets kept per sequence (paper 0.6)"}
    )
    criterion: Literal["excess_loss", "prob_gain"] = field(
        default="excess_loss",
        metadata={"help": "excess_loss (RHO-1 paper) or prob_gain (the TAALM reference)"},
    )


@register_method("rho1")
class Rho1(CklMethod):
    config_class = Rho1Config

    def __init__(self, config: Rho1Config | None = None) -> None:
        super().__init__(config)
        self.reference: dict[str, torch.Tensor] | None = None

    def prepare(self, model: nn.Module) -> nn.Module:
        if self.reference is None:
            self.reference = {
                n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
            }
        return model

    @torch.no_grad()
    def reference_nll(
        self, model: nn.Module, ids: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        if self.reference is None:
            raise RuntimeError("rho1.prepare(model) must run before training (it snapshots theta0)")
        model = getattr(model, "module", model)  # unwrap DDP-style wrappers: names as in prepare
        reference = self._reference_on(ids.device)
        was_training = model.training
        model.eval()
        try:
            out = functional_call(model, reference, (), {"input_ids": ids, "attention_mask": mask})
        finally:
            model.train(was_training)
        return token_nll(out.logits, ids)

    def _reference_on(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The snapshot, moved once to the device of the batches (prepare runs before the trainer
        places the model)."""
        assert self.reference is not None
        if any(t.device != device for t in self.reference.values()):
            self.reference = {n: t.to(device) for n, t in self.reference.items()}
        return self.reference

    def compute_loss(
        self, batch: Batch, outputs: Any, weights: torch.Tensor | None, model: nn.Module
    ) -> torch.Tensor:
        ids, mask = batch_ids_and_mask(batch)
        nll = token_nll(outputs.logits, ids)
        valid = target_mask(mask, nll.dtype)
        ref = self.reference_nll(model, ids, mask).to(nll.dtype)
        cur = nll.detach()
        if self.config.criterion == "excess_loss":
            scores = cur - ref
        else:
            scores = torch.exp(-cur) - torch.exp(-ref)
        keep = rho1_select(scores, valid, self.config.keep_ratio)
        if weights is not None:
            return weighted_sequence_loss(nll, weights.detach(), keep).mean()
        counts = keep_counts(valid, self.config.keep_ratio).clamp(min=1).to(nll.dtype)
        return ((keep * nll).sum(dim=-1) / counts).mean()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.reference is None else {"reference": dict(self.reference)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.reference = dict(state["reference"])

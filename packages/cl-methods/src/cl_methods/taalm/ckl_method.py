"""Shared base of the continual-knowledge-learning (CKL) methods: finetune, oracle, K-Adapter,
RecAdam, Mix-review, RHO-1 and TAALM's deployment.

Batches are mappings with ``input_ids`` and ``attention_mask`` (B, L), right padded; the oracle
also reads ``object_mask`` (B, L-1): 1 on the prediction indices of the object in the evidence
(cl-data's object finder gives them). The training loss is always the token-weighted L_w of
spec §3 with weights from :meth:`CklMethod.token_weights`: w = 1 by default (decision D10), or a
frozen Train-Attention's weights when TAALM attaches one (``self.weighter``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..method import Method, MethodConfig
from .loss import deployment_weighted_loss

Batch = Mapping[str, Any]
Weighter = Callable[[Batch], torch.Tensor]


@dataclass
class CklConfig(MethodConfig):
    """known_masking: drop targets theta already predicts greedily (off at deployment, §5)."""

    known_masking: bool = field(
        default=False,
        metadata={"help": "drop targets theta already predicts greedily (off at deployment)"},
    )


def batch_ids_and_mask(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    if "input_ids" not in batch:
        raise KeyError("CKL methods need batches with 'input_ids' (and 'attention_mask')")
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    return ids, torch.ones_like(ids) if mask is None else mask


class CklMethod(Method):
    """L_w training with pluggable token weights; subclasses change the model, the optimizer,
    the batches or the loss."""

    config_class = CklConfig

    def __init__(self, config: MethodConfig | None = None) -> None:
        super().__init__(config)
        self.weighter: Weighter | None = None

    # -- declared capabilities: what a CKL recipe reads instead of the method's name ----------
    def replay_ratio(self) -> float:
        """Replay documents added per training document in each micro-batch (0: no replay; the
        recipe then loads no replay documents and packs full micro-batches)."""
        return 0.0

    def set_replay_records(self, records: Sequence[Any]) -> None:
        """The replay documents (called by recipes when :meth:`replay_ratio` > 0)."""

    def needs_object_mask(self) -> bool:
        """True when batches must carry ``object_mask`` (each evidence's object positions)."""
        return False

    def base_lora(self) -> bool:
        """True: the recipe gives theta a LoRA to train; False: the method trains modules of its
        own beside a bare, frozen base (K-Adapter)."""
        return True

    def required_tokenizer(self) -> str | None:
        """A tokenizer theta must use (TAALM: phi's), or None."""
        return None

    def token_weights(self, batch: Batch, model: nn.Module) -> torch.Tensor | None:
        """(B, L-1) weights aligned with the targets, or None for w = 1."""
        return None if self.weighter is None else self.weighter(batch)

    def compute_loss(
        self, batch: Batch, outputs: Any, weights: torch.Tensor | None, model: nn.Module
    ) -> torch.Tensor:
        ids, mask = batch_ids_and_mask(batch)
        return deployment_weighted_loss(
            outputs.logits, ids, mask, weights, known_masking=self.config.known_masking
        )

    def forward_loss(self, batch: Batch, model: nn.Module) -> tuple[torch.Tensor, Any]:
        ids, mask = batch_ids_and_mask(batch)
        outputs = model(input_ids=ids, attention_mask=mask)
        weights = self.token_weights(batch, model)
        if weights is not None:
            weights = weights.to(device=outputs.logits.device)
        return self.compute_loss(batch, outputs, weights, model), outputs

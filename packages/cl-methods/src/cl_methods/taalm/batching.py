"""Right-padded batches of token sequences and the per-sample records of meta-training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


def pad_right(seqs: Sequence[torch.Tensor], value: int | float) -> torch.Tensor:
    """Stack 1-D tensors of different lengths, padding on the right with ``value``."""
    if not seqs:
        raise ValueError("cannot pad an empty list of sequences")
    length = max(int(s.shape[0]) for s in seqs)
    out = seqs[0].new_full((len(seqs), length), value)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out


@dataclass
class MetaSample:
    """One (evidence D, probe Q, object mask) record, tokenised (1-D tensors).

    target_mask has len(probe_ids) - 1 entries, 1 on the object's prediction indices (spec §8).
    """

    doc_ids: torch.Tensor
    probe_ids: torch.Tensor
    target_mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.target_mask.shape[0] != self.probe_ids.shape[0] - 1:
            raise ValueError(
                f"target_mask has {self.target_mask.shape[0]} entries, expected "
                f"{self.probe_ids.shape[0] - 1} (one per prediction position of the probe)"
            )
        if float(self.target_mask.sum()) <= 0:
            raise ValueError("target_mask marks no object token")


@dataclass
class TokenBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device))


def batch_tokens(seqs: Sequence[torch.Tensor], pad_token_id: int) -> TokenBatch:
    ids = pad_right(seqs, pad_token_id)
    mask = pad_right([torch.ones_like(s) for s in seqs], 0)
    return TokenBatch(ids, mask)


def batch_docs(samples: Sequence[MetaSample], pad_token_id: int) -> TokenBatch:
    return batch_tokens([s.doc_ids for s in samples], pad_token_id)


def batch_probes(
    samples: Sequence[MetaSample], pad_token_id: int
) -> tuple[TokenBatch, torch.Tensor]:
    """Probe batch and its (B, L-1) object mask."""
    batch = batch_tokens([s.probe_ids for s in samples], pad_token_id)
    mask = pad_right([s.target_mask.float() for s in samples], 0.0)
    return batch, mask

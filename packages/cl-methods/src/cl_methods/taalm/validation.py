"""Validation of a Train-Attention phi during meta-training (spec §4, decision D1).

theta is reset to a fresh clone of the immutable theta0, trained with ``torch.optim.AdamW``
(lr 2e-4, wd 0.01) on the validation evidences weighted by phi (eval mode): 4 epochs, batch 4,
gradient accumulation 2, shuffle seed 42, known-token masking on. Then the probes' object-token
accuracy and NLL are measured with theta in eval mode, and theta is reset to theta0 again.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .batching import MetaSample, batch_docs, batch_probes
from .loss import weighted_lm_loss
from .model import TrainAttention
from .probe import object_scores


@dataclass
class ValidationConfig:
    epochs: int = 4
    batch_size: int = 4
    grad_accum: int = 2
    lr: float = 2e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 42
    known_masking: bool = True
    eval_batch_size: int = 16


@dataclass
class ValidationResult:
    acc: float
    nll: float
    per_probe_acc: list[float]
    per_probe_nll: list[float]


def theta_trainables(theta: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in theta.named_parameters() if p.requires_grad}


def snapshot_theta0(theta: nn.Module) -> dict[str, torch.Tensor]:
    """theta0 as a deep copy with its own storage (D1): nothing that trains theta can move it."""
    return {n: p.detach().clone() for n, p in theta_trainables(theta).items()}


@torch.no_grad()
def reset_theta(theta: nn.Module, theta0: Mapping[str, torch.Tensor]) -> None:
    """Copy theta0's values into theta's trainable parameters (theta0 is only read)."""
    params = theta_trainables(theta)
    if set(params) != set(theta0):
        raise KeyError("theta0 and theta's trainable parameters have different names")
    for n, p in params.items():
        p.copy_(theta0[n])


@torch.no_grad()
def probe_metrics(
    theta: nn.Module, samples: Sequence[MetaSample], pad_token_id: int, batch_size: int = 16
) -> tuple[list[float], list[float]]:
    """Per-probe object accuracy and NLL with theta as it is (callers set eval mode)."""
    device = next(theta.parameters()).device
    accs: list[float] = []
    nlls: list[float] = []
    for i in range(0, len(samples), batch_size):
        batch, target = batch_probes(samples[i : i + batch_size], pad_token_id)
        batch = batch.to(device)
        logits = theta(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        acc, nll = object_scores(logits, batch.input_ids, target.to(device))
        accs += acc.tolist()
        nlls += nll.tolist()
    return accs, nlls


def validate(
    phi: TrainAttention,
    theta: nn.Module,
    theta0: Mapping[str, torch.Tensor],
    samples: Sequence[MetaSample],
    config: ValidationConfig,
    pad_token_id: int,
) -> ValidationResult:
    """Train a fresh clone of theta0 on the samples' evidences with phi's weights, then score."""
    if not samples:
        raise ValueError("validation needs at least one sample")
    phi_mode, theta_mode = phi.training, theta.training
    device = next(theta.parameters()).device
    reset_theta(theta, theta0)
    params = list(theta_trainables(theta).values())
    opt = torch.optim.AdamW(
        params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    rng = random.Random(config.seed)
    phi.eval()
    theta.train()
    try:
        for _ in range(config.epochs):
            order = list(range(len(samples)))
            rng.shuffle(order)
            chunks = [
                order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)
            ]
            opt.zero_grad(set_to_none=True)
            for i, chunk in enumerate(chunks):
                batch = batch_docs([samples[j] for j in chunk], pad_token_id).to(device)
                with torch.no_grad():
                    w = phi.token_weights(batch.input_ids, batch.attention_mask)
                logits = theta(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask
                ).logits
                loss = weighted_lm_loss(
                    logits,
                    batch.input_ids,
                    batch.attention_mask,
                    w.to(logits.device),
                    known_masking=config.known_masking,
                )
                (loss / config.grad_accum).backward()
                if (i + 1) % config.grad_accum == 0 or i == len(chunks) - 1:
                    opt.step()
                    opt.zero_grad(set_to_none=True)
        theta.eval()
        accs, nlls = probe_metrics(theta, samples, pad_token_id, config.eval_batch_size)
    finally:
        reset_theta(theta, theta0)
        phi.train(phi_mode)
        theta.train(theta_mode)
    return ValidationResult(sum(accs) / len(accs), sum(nlls) / len(nlls), accs, nlls)

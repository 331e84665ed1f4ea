"""The per-sample meta-gradient of Train-Attention (spec §4).

For one (D, Q, object mask): phi reads D once, w = sigmoid(phi(D))[:, 1:]. theta starts from a
fresh clone of the immutable theta0 (D1) with a new Adam state. A *dummy* step on L_w(D; w.detach())
advances the Adam state to t=1 and is then cut from the graph; the *meta* step on L_w(D; w) keeps
its graph (create_graph=True), giving theta' = AdamW(theta, grad). The outer loss is the mean NLL of
Q's object tokens under theta', and its gradient with respect to phi's trainable tensors is the
meta-gradient. theta's tensors enter only through ``torch.func.functional_call``: the modules'
own parameters are never modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from .adamw import AdamState, adamw_step
from .batching import MetaSample
from .loss import phi_token_weights, weighted_lm_loss

Params = Mapping[str, torch.Tensor]


@dataclass
class InnerConfig:
    """The inner theta steps: differentiable AdamW (lr 2e-4, wd 0.01), one dummy step first."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    dummy_step: bool = True
    known_masking: bool = False


def call_logits(
    model: nn.Module, params: Params, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """``functional_call(model, params, (), {input_ids, attention_mask}).logits``."""
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    return functional_call(model, dict(params), (), kwargs).logits


def grads_of(
    loss: torch.Tensor, params: Params, *, create_graph: bool = False
) -> dict[str, torch.Tensor]:
    """d loss / d params as a dict; tensors the loss does not reach get zeros."""
    names = list(params)
    gs = torch.autograd.grad(
        loss, [params[n] for n in names], create_graph=create_graph, allow_unused=True
    )
    return {n: torch.zeros_like(params[n]) if g is None else g for n, g in zip(names, gs)}


def clone_theta0(theta0: Params) -> dict[str, torch.Tensor]:
    """Fresh leaves with their own storage; theta0 itself is never touched (D1)."""
    return {k: v.detach().clone().requires_grad_() for k, v in theta0.items()}


def _as_batch(sample: MetaSample, device: torch.device) -> tuple[torch.Tensor, ...]:
    d = sample.doc_ids.unsqueeze(0).to(device)
    q = sample.probe_ids.unsqueeze(0).to(device)
    return d, torch.ones_like(d), q, torch.ones_like(q), sample.target_mask.unsqueeze(0).to(device)


def inner_steps(
    theta: nn.Module,
    theta0: Params,
    doc_ids: torch.Tensor,
    doc_mask: torch.Tensor,
    weights: torch.Tensor,
    config: InnerConfig,
    dummy_weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """theta' after the (optional) dummy step and the differentiable meta step on D.

    dummy_weights: weights for the dummy step (default ``weights.detach()``); finite-difference
    checks pass the unperturbed phi's weights here, since the meta-gradient ignores that path.
    """
    hyper = {"lr": config.lr, "betas": config.betas, "weight_decay": config.weight_decay}
    th = clone_theta0(theta0)
    state = AdamState.zeros_like(th)
    if config.dummy_step:
        dw = (weights if dummy_weights is None else dummy_weights).detach()
        logits = call_logits(theta, th, doc_ids, doc_mask)
        loss = weighted_lm_loss(logits, doc_ids, doc_mask, dw, known_masking=config.known_masking)
        th, state = adamw_step(th, grads_of(loss, th), state, **hyper)
        th = {k: v.detach().requires_grad_() for k, v in th.items()}
        state = state.detach()
    logits = call_logits(theta, th, doc_ids, doc_mask)
    loss = weighted_lm_loss(logits, doc_ids, doc_mask, weights, known_masking=config.known_masking)
    g = grads_of(loss, th, create_graph=True)
    new_th, _ = adamw_step(th, g, state, **hyper)
    return new_th


def meta_objective(
    phi: nn.Module,
    phi_params: Params,
    theta: nn.Module,
    theta0: Params,
    sample: MetaSample,
    config: InnerConfig,
    *,
    dummy_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_out(theta'(phi)): the mean NLL of the probe's object tokens after the inner steps."""
    device = next(iter(theta0.values())).device
    d, dm, q, qm, target = _as_batch(sample, device)
    w = phi_token_weights(call_logits(phi, phi_params, d, dm))
    new_theta = inner_steps(theta, theta0, d, dm, w, config, dummy_weights)
    probe_logits = call_logits(theta, new_theta, q, qm)
    return weighted_lm_loss(probe_logits, q, qm, target.to(probe_logits.dtype))


def meta_gradient(
    phi: nn.Module,
    phi_params: Params,
    theta: nn.Module,
    theta0: Params,
    sample: MetaSample,
    config: InnerConfig,
) -> tuple[dict[str, torch.Tensor], float]:
    """(d L_out / d phi_params, L_out) for one sample."""
    loss = meta_objective(phi, phi_params, theta, theta0, sample, config)
    return grads_of(loss, phi_params), float(loss.detach())


@torch.no_grad()
def phi_dummy_weights(phi: nn.Module, phi_params: Params, sample: MetaSample) -> torch.Tensor:
    """The weights phi gives the sample's document (used to hold the dummy step fixed)."""
    device = next(iter(phi_params.values())).device
    d = sample.doc_ids.unsqueeze(0).to(device)
    return phi_token_weights(call_logits(phi, phi_params, d, torch.ones_like(d)))

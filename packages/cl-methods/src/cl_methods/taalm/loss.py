"""The token-weighted LM loss L_w (spec §3).

Tokens x_0..x_{L-1}, attention mask a. The NLL of target x_{t+1} is l_t = -log p(x_{t+1} | x_<=t)
for t = 0..L-2; Train-Attention's weight for l_t is w_t = sigmoid(s_{t+1}) (read at the target's own
position). The mask is m_t = a_t * a_{t+1} (decision D8); known-token masking optionally drops the
targets the model already predicts greedily. Then

    L_w = mean_b [ sum_t w_bt m_bt l_bt / (sum_t w_bt m_bt + 1e-6) ].

All tensors over targets have shape (B, L-1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cl_kernels import weighted_cross_entropy_from_logits

EPS = 1e-6


def _upcast(logits: torch.Tensor) -> torch.Tensor:
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def token_nll(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """l_t for t = 0..L-2 from logits (B, L, V) and ids (B, L); shape (B, L-1)."""
    pred = _upcast(logits[:, :-1])
    target = input_ids[:, 1:]
    nll = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="none")
    return nll.view(target.shape)


def target_mask(attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """m_t = a_t * a_{t+1} (D8): no term predicts a pad and none is predicted from one."""
    a = attention_mask.to(dtype)
    return a[:, :-1] * a[:, 1:]


@torch.no_grad()
def known_token_mask(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """1 where the greedy prediction differs from the target, 0 where it is already right."""
    return (logits[:, :-1].argmax(dim=-1) != input_ids[:, 1:]).to(_upcast(logits).dtype)


def phi_token_weights(phi_logits: torch.Tensor) -> torch.Tensor:
    """Train-Attention logits s (B, L) -> weights sigmoid(s)[:, 1:] aligned with l_t."""
    return torch.sigmoid(phi_logits)[:, 1:]


def weighted_sequence_loss(
    nll: torch.Tensor, weights: torch.Tensor | None, mask: torch.Tensor, eps: float = EPS
) -> torch.Tensor:
    """Per-sequence sum_t w m l / (sum_t w m + eps), shape (B,). ``weights`` None means w = 1."""
    wm = mask.to(nll.dtype) if weights is None else weights.to(nll.dtype) * mask.to(nll.dtype)
    return (wm * nll).sum(dim=-1) / (wm.sum(dim=-1) + eps)


def weighted_lm_loss(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    *,
    known_masking: bool = False,
    reduction: str = "mean",
    eps: float = EPS,
) -> torch.Tensor:
    """L_w, differentiable in both the logits and the weights (meta-training uses both).

    weights: (B, L-1) aligned with the targets (``phi_token_weights``), or None for w = 1.
    reduction: ``"mean"`` (the batch mean, L_w) or ``"none"`` (one value per sequence).
    """
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    nll = token_nll(logits, input_ids)
    mask = target_mask(attention_mask, nll.dtype)
    if known_masking:
        mask = mask * known_token_mask(logits, input_ids).to(nll.dtype)
    if weights is not None and weights.shape != nll.shape:
        raise ValueError(f"weights have shape {tuple(weights.shape)}, expected {tuple(nll.shape)}")
    per_seq = weighted_sequence_loss(nll, weights, mask, eps)
    if reduction == "none":
        return per_seq
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return per_seq.mean()


def deployment_weighted_loss(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    weights: torch.Tensor | None,
    *,
    known_masking: bool = False,
) -> torch.Tensor:
    """L_w for deployment: weights carry no gradient (frozen phi, a rule, or w = 1) and only
    first-order gradients are needed.

    KERNEL ROUTE: computed by ``cl_kernels.weighted_cross_entropy_from_logits`` (fused Triton on
    CUDA, C++ row kernels on CPU when built and faster, else its PyTorch reference, which keeps
    the op order of :func:`weighted_lm_loss` above and so gives the same bits). Its token
    weights are ``weights * target_mask`` (times the known-token mask when asked) and the labels
    are the input ids with ``shift_labels=True``: position t's logits predict ``input_ids[:, t+1]``
    and the weights are the (B, L-1) target-aligned ones, exactly this module's convention.
    ``reduction="per_sequence"`` is L_w (per-sequence normalisation by ``sum w m + 1e-6``, then
    the batch mean). No label is ``ignore_index`` (-100): pads are dropped by their zero weight.
    """
    nll_dtype = torch.float32 if logits.dtype in (torch.float16, torch.bfloat16) else logits.dtype
    mask = target_mask(attention_mask, nll_dtype)
    if known_masking:
        mask = mask * known_token_mask(logits, input_ids).to(nll_dtype)
    if weights is not None:
        if weights.shape != mask.shape:
            raise ValueError(
                f"weights have shape {tuple(weights.shape)}, expected {tuple(mask.shape)}"
            )
        mask = weights.detach().to(nll_dtype) * mask
    return weighted_cross_entropy_from_logits(
        logits, input_ids, mask, reduction="per_sequence", eps=EPS, shift_labels=True
    )

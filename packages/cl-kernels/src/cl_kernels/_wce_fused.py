"""Token-weighted cross-entropy, fused with the LM head and chunked over tokens (op 3): the
driver and ``autograd.Function``s shared by the Triton and the C++ backends, which differ only in
their row kernels (``cl_kernels.triton.weighted_ce`` and ``cl_kernels.cpp.weighted_ce``).

Definitions, reductions and the label alignment (``shift_labels``) are those of
``cl_kernels.reference.weighted_ce``; this module is the fast path with the same contract.

Fused head (``weighted_cross_entropy``): tokens are processed ``chunk_size`` rows at a time; each
chunk's logits ``h W^T`` live only for that chunk, a row kernel (Triton on CUDA, C++ on CPU)
turns them into per-token losses and, in place, into ``dL/dz = coef * (softmax - onehot)``, and
the chunk's contributions to dL/dh and dL/dW are taken right away (the Liger-Kernel scheme: the
gradient is computed in the forward pass, backward only scales it by the incoming gradient). So
full (N, V) logits are never materialised, in fp32 or otherwise. ``coef = dL/dl`` is known before
the sweep because the normaliser ``sum_t w m + eps`` depends only on the weights and labels.

Logits variant (``weighted_cross_entropy_from_logits``): forward keeps one lse per token; backward
writes ``coef * (softmax - onehot)`` straight into the logits-sized gradient.

Gradients: hidden, head weight and token weights (dL/dw_bt = m_bt (l_bt - L_b) / (B (D_b + eps))
per sequence; m (l - L) / (D + eps) for the mean). Second order is not implemented by the
kernels: when a backward pass runs with ``create_graph=True`` (TAALM's meta-training), the
backward recomputes the loss with the PyTorch reference from the saved inputs and differentiates
that, so higher-order gradients are exact (at the reference's memory cost).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from .reference import weighted_ce as ref
from .reference.weighted_ce import EPS

FUSED_REDUCTIONS = ("per_sequence", "mean")

RowsForward = Callable[
    [torch.Tensor, torch.Tensor, "torch.Tensor | None", bool], tuple[torch.Tensor, torch.Tensor]
]
RowsGrad = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def row_kernels(backend: str) -> tuple[RowsForward, RowsGrad]:
    """(rows_forward, rows_grad) of a kernel backend: ``"triton"`` or ``"cpp"``."""
    if backend == "triton":
        from .triton import weighted_ce as tk

        return tk.rows_forward, tk.rows_grad
    if backend == "cpp":
        from .cpp import weighted_ce as ck

        return ck.rows_forward, ck.rows_grad
    raise ValueError(f"no row kernels for backend {backend!r} (expected 'triton' or 'cpp')")


def shift_targets(
    labels: torch.Tensor, token_weights: torch.Tensor | None, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """TAALM's alignment without slicing the activations: position t's target becomes
    ``labels[:, t+1]``; the last position gets ``ignore_index`` and weight 0."""
    b = labels.shape[0]
    pad = labels.new_full((b, 1), ignore_index)
    labels = torch.cat([labels[:, 1:], pad], dim=1)
    if token_weights is not None:
        token_weights = torch.cat([token_weights, token_weights.new_zeros(b, 1)], dim=1)
    return labels, token_weights


CPU_CHUNK_ELEMS = 1 << 23


def default_chunk_size(n: int, v: int, d: int, device_type: str = "cuda") -> int:
    """Rows per chunk, a power of two between 64 and n.

    CUDA: the chunk's logits about as large as the hidden states (Liger-Kernel's rule), which
    keeps the extra memory at the size of the input. CPU: chunk logits of about 2^23 elements
    (32 MiB in fp32): every chunk re-reads and re-writes the (V, D) fp32 head gradient, and on a
    CPU that traffic, not memory, is the bottleneck (measured in bench/results).
    """
    if device_type == "cpu":
        rows = 1 << (max(1, CPU_CHUNK_ELEMS // max(v, 1)).bit_length() - 1)  # round down
    else:
        rows = math.ceil(n / max(1, math.ceil(v / max(d, 1))))
        rows = 1 << max(0, rows - 1).bit_length()  # round up
    return max(1, min(n, max(64, rows)))


def _coefficients(
    labels: torch.Tensor,
    token_weights: torch.Tensor | None,
    v: int,
    ignore_index: int,
    reduction: str,
    eps: float,
) -> dict[str, torch.Tensor]:
    """Kernel labels (-1 where ignored), effective weights u = w m, normalisers and dL/dl."""
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= v))
    if bool(bad.any()):
        raise ValueError(
            f"labels must be in [0, {v}) or ignore_index={ignore_index}; found "
            f"{labels[bad][:5].tolist()}"
        )
    m = valid.to(torch.float32)
    u = m if token_weights is None else token_weights.detach().to(torch.float32) * m
    if reduction == "mean":
        den = u.sum() + eps
        coef = u / den
    else:
        den = u.sum(dim=-1) + eps
        coef = u / (labels.shape[0] * den[:, None])
    kernel_labels = torch.where(valid, labels, torch.full_like(labels, -1)).reshape(-1)
    return {"labels": kernel_labels, "m": m, "u": u, "den": den, "coef": coef}


def _loss_and_weight_grad(
    tok: torch.Tensor, c: dict[str, torch.Tensor], reduction: str, need_w: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    u, den, m = c["u"], c["den"], c["m"]
    if reduction == "mean":
        loss = (u * tok).sum() / den
        gw = m * (tok - loss) / den if need_w else None
    else:
        per_seq = (u * tok).sum(dim=-1) / den
        loss = per_seq.mean()
        gw = m * (tok - per_seq[:, None]) / (tok.shape[0] * den[:, None]) if need_w else None
    return loss, gw


def _reference_grads(ctx: Any, grad_out: torch.Tensor, fn: Callable, *args: Any) -> list:
    """Backward under create_graph=True: differentiate the reference from the saved inputs."""
    inputs = [t for t, need in zip(ctx.saved_tensors[: len(ctx.needs)], ctx.needs) if need]
    with torch.enable_grad():
        loss = fn(*ctx.saved_tensors[: len(ctx.needs)], *args)
        grads = torch.autograd.grad(loss, inputs, grad_out, create_graph=True, allow_unused=True)
    it = iter(grads)
    return [next(it) if need else None for need in ctx.needs]


class FusedLinearWeightedCE(torch.autograd.Function):
    """Chunked LM head + token-weighted CE; gradients taken during the forward sweep."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        labels: torch.Tensor,
        token_weights: torch.Tensor | None,
        ignore_index: int,
        reduction: str,
        eps: float,
        chunk_size: int | None,
        backend: str,
        needs: tuple[bool, bool, bool, bool],
    ) -> torch.Tensor:
        rows_forward, _ = row_kernels(backend)
        b, t, d = hidden.shape
        v = weight.shape[0]
        need_h, need_w_head, _, need_tw = needs
        c = _coefficients(labels, token_weights, v, ignore_index, reduction, eps)
        h2 = hidden.reshape(-1, d)
        n = h2.shape[0]
        coef = c["coef"].reshape(-1).contiguous()
        tok = torch.empty(n, device=hidden.device, dtype=torch.float32)
        grad_h = torch.empty_like(h2) if need_h else None
        grad_w = (
            torch.zeros(v, d, device=weight.device, dtype=torch.float32) if need_w_head else None
        )
        write = need_h or need_w_head
        step = chunk_size or default_chunk_size(n, v, d, hidden.device.type)
        for s in range(0, n, step):
            e = min(n, s + step)
            hc = h2[s:e]
            z = hc @ weight.t()
            tok[s:e], _ = rows_forward(z, c["labels"][s:e], coef[s:e], write)
            if grad_h is not None:
                torch.matmul(z, weight, out=grad_h[s:e])
            if grad_w is not None:
                if z.dtype == torch.float32:
                    grad_w.addmm_(z.t(), hc)
                else:
                    grad_w += (z.t() @ hc).float()
        loss, gw = _loss_and_weight_grad(tok.view(b, t), c, reduction, need_tw)
        ctx.needs = needs
        ctx.args = (ignore_index, reduction, eps)
        ctx.save_for_backward(hidden, weight, labels, token_weights, grad_h, grad_w, gw)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple:  # type: ignore[override]
        hidden, weight, _, token_weights, grad_h, grad_w, gw = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: second order through the reference
            ignore_index, reduction, eps = ctx.args
            gh, gwh, _, gtw = _reference_grads(
                ctx, grad_out, _reference_fused, ignore_index, reduction, eps
            )
            return gh, gwh, None, gtw, None, None, None, None, None, None
        gh = (grad_h * grad_out).view_as(hidden) if grad_h is not None else None
        gwh = (grad_w * grad_out).to(weight.dtype) if grad_w is not None else None
        gtw = (gw * grad_out).to(token_weights.dtype) if gw is not None else None
        return gh, gwh, None, gtw, None, None, None, None, None, None


def _reference_fused(hidden, weight, labels, token_weights, ignore_index, reduction, eps):
    return ref.weighted_cross_entropy(
        hidden,
        weight,
        labels,
        token_weights,
        ignore_index=ignore_index,
        reduction=reduction,
        eps=eps,
    )


def _reference_logits(logits, labels, token_weights, ignore_index, reduction, eps):
    return ref.weighted_cross_entropy_from_logits(
        logits, labels, token_weights, ignore_index=ignore_index, reduction=reduction, eps=eps
    )


class WeightedCEFromLogits(torch.autograd.Function):
    """Token-weighted CE from logits: one lse per token saved, gradient written in backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        logits: torch.Tensor,
        labels: torch.Tensor,
        token_weights: torch.Tensor | None,
        ignore_index: int,
        reduction: str,
        eps: float,
        backend: str,
        needs: tuple[bool, bool, bool],
    ) -> torch.Tensor:
        rows_forward, _ = row_kernels(backend)
        b, t, v = logits.shape
        c = _coefficients(labels, token_weights, v, ignore_index, reduction, eps)
        z = logits.reshape(-1, v)
        tok, lse = rows_forward(z, c["labels"], None, False)
        loss, gw = _loss_and_weight_grad(tok.view(b, t), c, reduction, needs[2])
        ctx.needs = needs
        ctx.args = (ignore_index, reduction, eps)
        ctx.backend = backend
        ctx.save_for_backward(
            logits, labels, token_weights, c["labels"], c["coef"].reshape(-1), lse, gw
        )
        return loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple:  # type: ignore[override]
        logits, _, token_weights, klabels, coef, lse, gw = ctx.saved_tensors
        if torch.is_grad_enabled():
            ignore_index, reduction, eps = ctx.args
            gl, _, gtw = _reference_grads(
                ctx, grad_out, _reference_logits, ignore_index, reduction, eps
            )
            return gl, None, gtw, None, None, None, None, None
        gl = None
        if ctx.needs[0]:
            _, rows_grad = row_kernels(ctx.backend)
            v = logits.shape[-1]
            coef_g = (coef * grad_out).contiguous()
            gl = rows_grad(logits.reshape(-1, v), klabels, coef_g, lse).view_as(logits)
        gtw = (gw * grad_out).to(token_weights.dtype) if gw is not None else None
        return gl, None, gtw, None, None, None, None, None


def _aligned(
    x: torch.Tensor,
    labels: torch.Tensor,
    token_weights: torch.Tensor | None,
    ignore_index: int,
    shift_labels: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Check shapes against the reference's contract and apply ``shift_targets`` if asked."""
    if labels.shape != x.shape[:2]:
        raise ValueError(f"labels {tuple(labels.shape)} do not match (B, T) of {tuple(x.shape)}")
    expect = ref.expected_weight_shape(labels, shift_labels)
    ref.check_weight_shape(token_weights, expect, shift_labels)
    if shift_labels:
        labels, token_weights = shift_targets(labels, token_weights, ignore_index)
    return labels, token_weights


def _needs(*tensors: torch.Tensor | None) -> tuple[bool, ...]:
    on = torch.is_grad_enabled()
    return tuple(bool(on and t is not None and t.requires_grad) for t in tensors)


def fused_weighted_cross_entropy(
    hidden: torch.Tensor,
    head_weight: torch.Tensor,
    labels: torch.Tensor,
    token_weights: torch.Tensor | None = None,
    *,
    backend: str,
    ignore_index: int = -100,
    reduction: str = "per_sequence",
    eps: float = EPS,
    shift_labels: bool = False,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """The fused path with an explicit row-kernel ``backend`` (``"triton"`` or ``"cpp"``)."""
    ref.check_reduction(reduction, FUSED_REDUCTIONS)
    ref.check_head_shapes(hidden, head_weight)
    labels, token_weights = _aligned(hidden, labels, token_weights, ignore_index, shift_labels)
    if head_weight.dtype != hidden.dtype:
        head_weight = head_weight.to(hidden.dtype)
    needs = _needs(hidden, head_weight, None, token_weights)
    return FusedLinearWeightedCE.apply(
        hidden.contiguous(),
        head_weight,
        labels,
        token_weights,
        ignore_index,
        reduction,
        eps,
        chunk_size,
        backend,
        needs,
    )


def fused_weighted_cross_entropy_from_logits(
    logits: torch.Tensor,
    labels: torch.Tensor,
    token_weights: torch.Tensor | None = None,
    *,
    backend: str,
    ignore_index: int = -100,
    reduction: str = "per_sequence",
    eps: float = EPS,
    shift_labels: bool = False,
) -> torch.Tensor:
    """The logits variant with an explicit row-kernel ``backend``."""
    ref.check_reduction(reduction, FUSED_REDUCTIONS)
    if logits.dim() != 3:
        raise ValueError(f"expected logits (B, T, V), got {tuple(logits.shape)}")
    labels, token_weights = _aligned(logits, labels, token_weights, ignore_index, shift_labels)
    needs = _needs(logits, None, token_weights)
    return WeightedCEFromLogits.apply(
        logits.contiguous(), labels, token_weights, ignore_index, reduction, eps, backend, needs
    )


def bind_backend(backend: str) -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]:
    """The two entry points of a row-kernel ``backend`` (``"triton"`` or ``"cpp"``) with the
    public signatures: ``(weighted_cross_entropy, weighted_cross_entropy_from_logits)``."""
    return (
        functools.partial(fused_weighted_cross_entropy, backend=backend),
        functools.partial(fused_weighted_cross_entropy_from_logits, backend=backend),
    )

"""Self-check probes: small inputs for every op (``Op.probe``), built from a fixed seed so that two
calls give equal tensors. Sizes are odd (no multiple of a block), lists mix shapes, and each probe
covers the op's modes (norms, reductions, label shift, dropout with a generator, an empty stack),
yet stays tiny enough for Triton's CPU interpreter.
"""

from __future__ import annotations

import math

import torch

from ._selfcheck import ProbeCase


class _Maker:
    """Random tensors from one seeded CPU generator, moved to ``device``/``dtype``."""

    def __init__(self, seed: int, dtype: torch.dtype, device: torch.device) -> None:
        self.g = torch.Generator().manual_seed(seed)
        self.dtype, self.device = dtype, device

    def randn(self, *shape: int, scale: float = 1.0, grad: bool = False, dtype=None):
        t = torch.randn(*shape, generator=self.g) * scale
        t = t.to(device=self.device, dtype=dtype or self.dtype)
        return t.requires_grad_(grad)

    def rand(self, *shape: int, grad: bool = False, dtype=None):
        t = torch.rand(*shape, generator=self.g).to(device=self.device, dtype=dtype or self.dtype)
        return t.requires_grad_(grad)

    def labels(self, *shape: int, v: int) -> torch.Tensor:
        return torch.randint(0, v, shape, generator=self.g).to(self.device)


def orthogonality_penalty(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(1, dtype, device)
    dims, old_rows = (12, 12, 7), (5, 0, 3)  # layer 2 has an empty stack (task 1)
    a_old = [m.randn(r, d) for r, d in zip(old_rows, dims)]
    a_new = [m.randn(2, d, grad=True) for d in dims]
    return [
        ProbeCase((a_old, a_new, "l1"), label="l1"),
        ProbeCase((a_old, a_new, "l2sq"), label="l2sq"),
    ]


def l2_penalty(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(2, dtype, device)
    params = [m.randn(3, 12, grad=True), m.randn(12, 3, grad=True), m.randn(5, grad=True)]
    params.append(torch.zeros(4, 4, device=device, dtype=dtype, requires_grad=True))
    return [ProbeCase((params,))]


def nlora_penalty(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(3, dtype, device)
    a_sq = [m.randn(3, 10, grad=True), m.randn(3, 10, grad=True)]
    b_sq = [m.randn(10, 3, grad=True), m.randn(10, 3, grad=True)]
    a_dw = [m.randn(3, 9, grad=True), m.randn(2, 9, grad=True)]
    b_dw = [m.randn(11, 3, grad=True), m.randn(11, 2, grad=True)]
    return [
        ProbeCase((a_sq, b_sq, "ab"), label="ab"),
        ProbeCase((a_dw, b_dw, "delta_w"), label="delta_w"),
    ]


def fisher_accumulate(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(4, dtype, device)
    fishers = [m.rand(5, 7), m.rand(33), m.rand(3, 3)]
    grads = [m.randn(5, 7), None, m.randn(3, 3)]  # a None gradient leaves its Fisher alone
    return [ProbeCase((fishers, grads, 0.5))]


def fisher_merge(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(5, dtype, device)
    f_new = [m.rand(5, 7), m.rand(33)]
    f_old = [m.rand(5, 7), m.rand(33)]
    return [ProbeCase((f_new, f_old, 3.0))]


def ewc_penalty(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(6, dtype, device)
    shapes = ((5, 7), (33,), (3, 3))
    params = [m.randn(*s, grad=True) for s in shapes]
    anchors = [m.randn(*s) for s in shapes]
    fishers = [m.rand(*s) for s in shapes]
    return [ProbeCase((params, anchors, fishers, 0.7))]


def _wce_targets(m: _Maker, b: int, t: int, v: int, shift: bool):
    labels = m.labels(b, t, v=v)
    labels[0, 3:] = -100  # partly ignored row
    weights = m.rand(b, t - 1 if shift else t, dtype=torch.float32, grad=True)
    return labels, weights


def weighted_cross_entropy(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(7, dtype, device)
    b, t, d, v = 2, 5, 16, 37
    hidden = m.randn(b, t, d, grad=True)
    head = m.randn(v, d, scale=1 / math.sqrt(d), grad=True)
    labels, weights = _wce_targets(m, b, t, v, shift=False)
    s_labels, s_weights = _wce_targets(m, b, t, v, shift=True)
    return [
        ProbeCase((hidden, head, labels, weights), {"chunk_size": 3}, label="per_sequence"),
        ProbeCase(
            (hidden, head, s_labels, s_weights),
            {"reduction": "mean", "shift_labels": True},
            label="mean+shift",
        ),
    ]


def weighted_cross_entropy_from_logits(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    m = _Maker(8, dtype, device)
    b, t, v = 2, 5, 37
    logits = m.randn(b, t, v, scale=2.0, grad=True)
    labels, weights = _wce_targets(m, b, t, v, shift=False)
    s_labels, s_weights = _wce_targets(m, b, t, v, shift=True)
    return [
        ProbeCase((logits, labels, weights), label="per_sequence"),
        ProbeCase(
            (logits, s_labels, s_weights),
            {"reduction": "mean", "shift_labels": True},
            label="mean+shift",
        ),
    ]


def lora_linear(dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    """Base weight and bias trainable too (every gradient path), adapters in fp32 as the stacked
    LoRA layers keep them; one case with dropout drawn from a generator, one in eval mode
    without bias and with an empty stack."""
    m = _Maker(9, dtype, device)
    d_in, d_out, r_old, r = 24, 20, 5, 3
    f32 = torch.float32
    x = m.randn(2, 3, d_in, grad=True)
    w = m.randn(d_out, d_in, scale=1 / math.sqrt(d_in), grad=True)
    bias = m.randn(d_out, scale=0.1, grad=True)
    a_old = m.randn(r_old, d_in, scale=1 / math.sqrt(d_in), dtype=f32)
    b_old = m.randn(d_out, r_old, scale=0.1, dtype=f32)
    a_new = m.randn(r, d_in, scale=1 / math.sqrt(d_in), dtype=f32, grad=True)
    b_new = m.randn(d_out, r, scale=0.1, dtype=f32, grad=True)
    gen = torch.Generator(device=device).manual_seed(11)
    empty_a = torch.zeros(0, d_in, device=device)
    empty_b = torch.zeros(d_out, 0, device=device)
    return [
        ProbeCase((x, w, bias, a_old, b_old, a_new, b_new, 2.0, 0.25, True, gen), label="dropout"),
        ProbeCase((x, w, None, empty_a, empty_b, a_new, b_new, 2.0, 0.25, False), label="eval"),
    ]

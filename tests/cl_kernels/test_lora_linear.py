"""Stacked LoRA linear (op 4): the reference against hand-computed values (one shared dropout
mask), and the Triton path (interpreted on the CPU) against the reference in forward and
backward, with gradients only where required.

Tolerances: fp32 1e-5 relative to the output scale; bf16/fp16 2 ulp of the largest |value| (the
two-segment kernel sums base and adapter in one fp32 accumulator and rounds once, the reference
rounds y, the adapter term and their sum separately).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import cl_kernels
from cl_kernels import _dispatch, use_backend
from cl_kernels.reference import lora_linear as ref_lora

TRITON_OK = _dispatch.triton_status(torch.device("cpu"))
needs_triton = pytest.mark.skipif(not TRITON_OK[0], reason=TRITON_OK[1])


def _close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, what: str) -> None:
    scale = want.float().abs().max().item() + 1e-6
    ulp = {torch.float32: 1e-5, torch.bfloat16: 2.0**-7, torch.float16: 2.0**-10}[dtype]
    torch.testing.assert_close(got.float(), want.float(), rtol=0.0, atol=2 * ulp * scale, msg=what)


def _inputs(dtype, r_sum, d_in=19, d_out=23, r=4, lead=(2, 9), seed=0):
    """Odd sizes; the adapter stack in fp32 (as StackedLoRALinear keeps it), base in dtype."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*lead, d_in, generator=g).to(dtype)
    w = (torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in)).to(dtype)
    b = (torch.randn(d_out, generator=g) * 0.1).to(dtype)
    a_old = torch.randn(r_sum, d_in, generator=g) / math.sqrt(d_in)
    b_old = torch.randn(d_out, r_sum, generator=g) * 0.1
    a_new = torch.randn(r, d_in, generator=g) / math.sqrt(d_in)
    b_new = torch.randn(d_out, r, generator=g) * 0.1
    return [x, w, b, a_old, b_old, a_new, b_new]


def test_reference_hand_computed_and_shared_mask() -> None:
    x, w, b, a_old, b_old, a_new, b_new = (t.double() for t in _inputs(torch.float64, 3))
    s, p = 2.0, 0.4
    y = ref_lora(x, w, b, a_old, b_old, a_new, b_new, s, p, False)  # eval: no dropout
    want = x @ w.T + b + s * (x @ a_old.T @ b_old.T + x @ a_new.T @ b_new.T)
    torch.testing.assert_close(y, want)
    # training with a generator: ONE mask, drawn as bernoulli(1 - p), feeds both branches
    y = ref_lora(x, w, b, a_old, b_old, a_new, b_new, s, p, True, torch.Generator().manual_seed(5))
    keep = torch.empty(x.shape).bernoulli_(1 - p, generator=torch.Generator().manual_seed(5))
    xd = x * keep.double() / (1 - p)
    want = x @ w.T + b + s * (xd @ a_old.T @ b_old.T + xd @ a_new.T @ b_new.T)
    torch.testing.assert_close(y, want)
    with pytest.raises(ValueError, match="a_old"):
        ref_lora(x, w, b, a_old[:, 1:], b_old, a_new, b_new, s)
    with pytest.raises(ValueError, match="dropout_p"):
        cl_kernels.lora_linear(x, w, b, a_old, b_old, a_new, b_new, s, 1.0, True)


def test_cpu_default_is_reference_and_cpp_falls_back_with_reason() -> None:
    x, w, b, a_old, b_old, a_new, b_new = _inputs(torch.float32, 3)
    assert _dispatch.select("lora_linear", torch.device("cpu")) == "reference"
    assert "GEMM-bound" in cl_kernels.info()["ops"]["lora_linear"]["cpp"]
    torch.manual_seed(0)
    y = cl_kernels.lora_linear(x, w, b, a_old, b_old, a_new, b_new, 4.0, 0.1, True)
    torch.manual_seed(0)  # the CPU path is bit-identical to the reference (F.dropout, global RNG)
    assert torch.equal(y, ref_lora(x, w, b, a_old, b_old, a_new, b_new, 4.0, 0.1, True))
    with use_backend("cpp"), pytest.warns(RuntimeWarning, match="lora_linear"):
        y2 = cl_kernels.lora_linear(x, w, b, a_old, b_old, a_new, b_new, 4.0)
    assert torch.equal(y2, ref_lora(x, w, b, a_old, b_old, a_new, b_new, 4.0))


def _run_both(inputs, requires, scale, p, training, dtype):
    outs = []
    for backend in ("reference", "triton"):
        leaves = [
            t.clone().requires_grad_(need) if t is not None else None
            for t, need in zip(inputs, requires)
        ]
        with use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            gen = torch.Generator().manual_seed(11)
            y = cl_kernels.lora_linear(*leaves, scale, p, training, gen)
        gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(3)).to(y.dtype)
        y.backward(gy)
        outs.append((y, leaves))
    return outs


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("r_sum", [0, 5])
@pytest.mark.parametrize("p,training", [(0.0, True), (0.3, True), (0.3, False)])
def test_triton_parity(dtype: torch.dtype, r_sum: int, p: float, training: bool) -> None:
    inputs = _inputs(dtype, r_sum)
    requires = [True, False, False, False, False, True, True]  # frozen base and stack
    (y_ref, l_ref), (y_tri, l_tri) = _run_both(inputs, requires, 4.0, p, training, dtype)
    assert y_tri.dtype == y_ref.dtype == dtype and y_tri.shape == y_ref.shape
    _close(y_tri, y_ref, dtype, "y")
    for name, i in (("x", 0), ("a_new", 5), ("b_new", 6)):
        assert l_tri[i].grad is not None and l_tri[i].grad.dtype == l_ref[i].grad.dtype, name
        _close(l_tri[i].grad, l_ref[i].grad, dtype, name)
    for i in (1, 2, 3, 4):  # frozen tensors get no gradient
        assert l_tri[i].grad is None


@needs_triton
def test_triton_all_gradients_and_no_bias() -> None:
    """Every input trainable (W, b and the old stack too), and the bias-free form."""
    inputs = _inputs(torch.float32, 3)
    (y_ref, l_ref), (y_tri, l_tri) = _run_both(inputs, [True] * 7, 2.0, 0.2, True, torch.float32)
    _close(y_tri, y_ref, torch.float32, "y")
    for i, name in enumerate(("x", "w", "b", "a_old", "b_old", "a_new", "b_new")):
        _close(l_tri[i].grad, l_ref[i].grad, torch.float32, name)
    inputs[2] = None
    (y_ref, l_ref), (y_tri, l_tri) = _run_both(inputs, [True] * 7, 2.0, 0.0, False, torch.float32)
    _close(y_tri, y_ref, torch.float32, "y without bias")
    _close(l_tri[0].grad, l_ref[0].grad, torch.float32, "x without bias")


@needs_triton
def test_triton_second_order_and_autocast() -> None:
    x, w, b, a_old, b_old, a_new, b_new = _inputs(torch.float32, 2, lead=(5,))
    res = []
    for backend in ("reference", "triton"):
        an, bn = a_new.clone().requires_grad_(), b_new.clone().requires_grad_()
        with use_backend(backend):
            y = cl_kernels.lora_linear(x, w, b, a_old, b_old, an, bn, 2.0)
        (g,) = torch.autograd.grad(y.pow(2).sum(), [an], create_graph=True)
        res.append(torch.autograd.grad(g.pow(2).sum(), [bn])[0])
    assert res[0].abs().sum() > 0
    torch.testing.assert_close(res[1], res[0], rtol=1e-4, atol=1e-5)  # y itself differs by ulps
    # under CPU autocast both compute in bf16 like F.linear does
    outs = []
    for backend in ("reference", "triton"):
        with use_backend(backend), torch.autocast("cpu", dtype=torch.bfloat16):
            outs.append(cl_kernels.lora_linear(x, w, b, a_old, b_old, a_new, b_new, 2.0))
    assert outs[0].dtype == outs[1].dtype == torch.bfloat16
    _close(outs[1], outs[0], torch.bfloat16, "autocast")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_parity(dtype: torch.dtype) -> None:
    inputs = [t.cuda() for t in _inputs(dtype, 24, d_in=1024, d_out=1024, r=8, lead=(4, 256))]
    requires = [True, False, False, False, False, True, True]
    outs = []
    for backend in ("reference", "triton"):
        leaves = [t.clone().requires_grad_(n) for t, n in zip(inputs, requires)]
        with use_backend(backend):
            y = cl_kernels.lora_linear(*leaves, 4.0, 0.0, True)
        y.float().pow(2).sum().backward()
        outs.append((y, leaves))
    torch.testing.assert_close(outs[1][0].float(), outs[0][0].float(), rtol=2e-2, atol=2e-2)
    for i in (0, 5, 6):
        g1, g0 = outs[1][1][i].grad.float(), outs[0][1][i].grad.float()
        torch.testing.assert_close(g1, g0, rtol=2e-2, atol=2e-2 * g0.abs().max().item())

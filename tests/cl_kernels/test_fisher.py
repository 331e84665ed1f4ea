"""Fisher accumulation, merge and the EWC penalty: hand-made values, then the fused backends
against the reference for float32/bfloat16/float16, odd sizes, None grads, empty tensors, zeros."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

import cl_kernels
from cl_kernels import reference, use_backend

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
SHAPES = [(3, 5), (2500,), (1,), (0,), (4, 1, 3)]


def _tensors(dtype, seed, positive=False):
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in SHAPES:
        t = torch.rand(s, generator=g) if positive else torch.randn(s, generator=g)
        out.append(t.to(dtype))
    return out


def _device(backend, request, kt, dtype):
    if backend == "triton":
        return request.getfixturevalue("triton_device")
    kt.require_cpp("fisher")
    if dtype != torch.float32:
        pytest.skip("the C++ Fisher/EWC kernels take float32 (others use the reference)")
    return torch.device("cpu")


@contextlib.contextmanager
def _strict(backend):
    """Run under ``backend`` with fallback warnings turned into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with use_backend(backend):
            yield


def _close(got, want, kt, dtype):
    for a, b in zip(got, want):
        torch.testing.assert_close(a.cpu().float(), b.float(), **kt.TOL[dtype])


# ----------------------------------------------------------------------------- hand-made values


def test_hand_made_values():
    f = [torch.tensor([1.0, 2.0]), torch.tensor([0.5])]
    g = [torch.tensor([2.0, -1.0]), None]
    cl_kernels.fisher_accumulate(f, g, c=0.5)
    assert f[0].tolist() == [3.0, 2.5] and f[1].tolist() == [0.5]
    old = [torch.tensor([1.0, 1.0])]
    cl_kernels.fisher_merge([torch.tensor([4.0, 7.0])], old, t=2)
    assert old[0].tolist() == [2.0, 3.0]  # (4 + 2*1)/3, (7 + 2)/3
    p = torch.tensor([1.0, 3.0], requires_grad=True)
    value = cl_kernels.ewc_penalty([p], [torch.tensor([0.0, 1.0])], [torch.tensor([2.0, 0.5])], 4.0)
    assert value.item() == 2.0 * (2.0 * 1.0 + 0.5 * 4.0)  # lam/2 * (2*1^2 + 0.5*2^2)
    value.backward()
    assert p.grad.tolist() == [8.0, 4.0]  # lam * F * (p - a)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="differ in length"):
        cl_kernels.fisher_accumulate([torch.ones(2)], [], 1.0)
    with pytest.raises(ValueError, match="tensors 0 differ in shape"):
        cl_kernels.fisher_merge([torch.ones(2)], [torch.ones(3)], 1.0)
    with pytest.raises(ValueError, match=r"fishers\[0\] is None"):
        cl_kernels.ewc_penalty([torch.ones(2)], [torch.ones(2)], [None], 1.0)


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize("backend", ["triton", "cpp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_accumulate_and_merge_parity(backend, dtype, request, kt):
    device = _device(backend, request, kt, dtype)
    fishers = _tensors(dtype, 0, positive=True)
    grads: list[torch.Tensor | None] = _tensors(dtype, 1)
    grads[2] = None  # a parameter without gradient is skipped
    want = [f.clone() for f in fishers]
    reference.fisher_accumulate(want, grads, 0.25)
    got = [f.to(device) for f in fishers]
    accumulate = cl_kernels.fisher_accumulate
    if backend == "cpp":
        # no C++ accumulate behind the dispatcher (not faster than addcmul_); the kernel is kept
        # for the benchmark that shows it, so it is tested directly
        from cl_kernels.cpp.fisher import fisher_accumulate as accumulate
    with _strict(backend):
        out = accumulate(got, [None if g is None else g.to(device) for g in grads], 0.25)
    assert out[0] is got[0]  # in place
    _close(got, want, kt, dtype)
    assert torch.equal(got[2].cpu(), fishers[2])

    new = _tensors(dtype, 2, positive=True)
    reference.fisher_merge(new, want, 3.0)
    with _strict(backend):
        cl_kernels.fisher_merge([t.to(device) for t in new], got, 3.0)
    _close(got, want, kt, dtype)


@pytest.mark.parametrize("backend", ["triton", "cpp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_ewc_parity(backend, dtype, request, kt):
    device = _device(backend, request, kt, dtype)
    params = [t.requires_grad_() for t in _tensors(dtype, 3)]
    anchors = _tensors(dtype, 4)
    fishers = _tensors(dtype, 5, positive=True)
    fishers[1] = torch.zeros_like(fishers[1])  # zero importance: no pull at all
    want = reference.ewc_penalty(params, anchors, fishers, 50.0)
    (want * 0.5).backward()
    want_grads = [p.grad.clone() for p in params]

    mine = kt.clone_inputs(params, device=device)
    with _strict(backend):
        got = cl_kernels.ewc_penalty(
            mine, [a.to(device) for a in anchors], [f.to(device) for f in fishers], 50.0
        )
    (got * 0.5).backward()
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.cpu(), want.detach(), **kt.VALUE_TOL)
    _close([p.grad for p in mine], want_grads, kt, dtype)
    assert not mine[1].grad.any()


@pytest.mark.parametrize("backend", ["triton", "cpp"])
def test_non_contiguous_fisher_is_updated_in_place(backend, request, kt):
    device = _device(backend, request, kt, torch.float32)
    base = torch.ones(4, 6, device=device)
    f = base.t()  # non-contiguous view
    g = torch.full((6, 4), 2.0, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cpp declines non-contiguous inputs: the reference runs
        with use_backend(backend):
            cl_kernels.fisher_accumulate([f], [g], 1.0)
            cl_kernels.fisher_merge([torch.full((6, 4), 2.0, device=device)], [f], 1.0)
    assert torch.equal(base, torch.full((4, 6), 3.5, device=device))


def test_empty_lists():
    assert cl_kernels.fisher_accumulate([], [], 1.0) == []
    assert cl_kernels.fisher_merge([], [], 1.0) == []
    assert cl_kernels.ewc_penalty([], [], [], 1.0).item() == 0.0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_auto_dispatch_matches_reference(kt):
    """On a GPU the auto path runs Triton; bf16 parameters with float32 Fisher, as in training."""
    from cl_kernels import _dispatch

    device = torch.device("cuda")
    assert _dispatch.select("ewc_penalty", device) == "triton"
    g = torch.Generator().manual_seed(0)
    shapes = [(4096, 1024), (1024,), (3, 77)]
    fishers = [torch.rand(s, generator=g).to(device) for s in shapes]
    grads = [torch.randn(s, generator=g).to(device, torch.bfloat16) for s in shapes]
    want = [f.clone() for f in fishers]
    reference.fisher_accumulate(want, grads, 0.1)
    cl_kernels.fisher_accumulate(fishers, grads, 0.1)
    _close(fishers, [w.cpu() for w in want], kt, torch.float32)
    params = [torch.randn(s, generator=g).to(device, torch.bfloat16) for s in shapes]
    params = [p.requires_grad_() for p in params]
    anchors = [p.detach() + 0.01 for p in params]
    value = cl_kernels.ewc_penalty(params, anchors, fishers, 5000.0)
    ref = reference.ewc_penalty(params, anchors, fishers, 5000.0)
    torch.testing.assert_close(value, ref, rtol=1e-4, atol=1e-3)

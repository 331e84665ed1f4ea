"""Convergence layer (Liger style): a few optimizer steps of a tiny stacked-LoRA regression with
the O-LoRA, N-LoRA and EWC penalties follow the same trajectory under every backend."""

from __future__ import annotations

import warnings

import pytest
import torch

import cl_kernels
from cl_kernels import use_backend

D_IN, D_OUT, R, R_OLD, LAYERS = 12, 12, 4, 6, 3


def _train(backend: str | None, device: torch.device, steps: int = 12) -> list[float]:
    """Loss per step; ``backend`` None = auto dispatch (on CPU: C++ where an op has it)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, D_IN, generator=g).to(device)
    y = torch.randn(32, D_OUT, generator=g).to(device)
    a_old = [torch.randn(R_OLD, D_IN, generator=g).to(device) for _ in range(LAYERS)]
    a_new = [(0.3 * torch.randn(R, D_IN, generator=g)).to(device) for _ in range(LAYERS)]
    b_new = [(0.3 * torch.randn(D_OUT, R, generator=g)).to(device) for _ in range(LAYERS)]
    params = [t.requires_grad_() for t in (*a_new, *b_new)]
    anchors = [p.detach().clone() for p in params]
    fishers = [torch.rand(p.shape, generator=g).to(device) for p in params]
    opt = torch.optim.SGD(params, lr=0.05)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with use_backend(backend):
            for _ in range(steps):
                h = x
                for a, b in zip(a_new, b_new):
                    h = h + (h @ a.T) @ b.T
                loss = (h - y).square().mean()
                loss = loss + 0.5 * cl_kernels.orthogonality_penalty(a_old, a_new)
                loss = loss + 0.1 * cl_kernels.l2_penalty(params)
                loss = loss + 0.05 * cl_kernels.nlora_penalty(a_new, b_new, "delta_w")
                loss = loss + cl_kernels.ewc_penalty(params, anchors, fishers, 2.0)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                cl_kernels.fisher_accumulate(fishers, [p.grad for p in params], 0.01)
    return losses


@pytest.mark.parametrize("backend", ["triton", "cpp"])
def test_training_trajectory_matches_reference(backend, request, kt):
    if backend == "triton":
        device = request.getfixturevalue("triton_device")
    else:
        kt.require_cpp("subspace")
        kt.require_cpp("fisher")
        device = torch.device("cpu")
    want = _train("reference", device)
    got = _train("triton" if backend == "triton" else None, device)
    assert want[-1] < want[0]  # it does train
    torch.testing.assert_close(torch.tensor(got), torch.tensor(want), rtol=1e-4, atol=1e-5)

"""The cl-methods call sites routed through cl-kernels: TAALM's deployment loss and the stacked
LoRA forward give the same bits as the code they replaced when the reference runs (the CPU
default for lora_linear; forced for the loss), and agree within fp32 rounding on the C++ path."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from cl_kernels import _dispatch, use_backend
from cl_methods.adapters.stacked_lora import StackedLoRALinear
from cl_methods.taalm.loss import deployment_weighted_loss, weighted_lm_loss


def _batch(dtype: torch.dtype):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 11, generator=g).to(dtype)
    ids = torch.randint(0, 11, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0  # right padding
    mask[2, 1:] = 0  # a row with no target at all
    w = torch.rand(3, 6, generator=g)
    return logits, ids, mask, w


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("known", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_taalm_route_is_bit_identical_on_the_reference(dtype, known, weighted) -> None:
    logits, ids, mask, w = _batch(dtype)
    w = w if weighted else None
    old = weighted_lm_loss(logits, ids, mask, w, known_masking=known)
    with use_backend("reference"):
        new = deployment_weighted_loss(logits, ids, mask, w, known_masking=known)
    assert new.dtype == old.dtype and torch.equal(new, old)
    if dtype != torch.float64 and _dispatch.cpp_status("weighted_ce")[0]:
        with use_backend("cpp"), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            lg = logits.clone().requires_grad_()
            fused = deployment_weighted_loss(lg, ids, mask, w, known_masking=known)
        torch.testing.assert_close(fused, old, rtol=1e-5, atol=1e-6)
        lg_ref = logits.clone().requires_grad_()
        (g_ref,) = torch.autograd.grad(
            weighted_lm_loss(lg_ref, ids, mask, w, known_masking=known), [lg_ref]
        )
        (g,) = torch.autograd.grad(fused, [lg])
        torch.testing.assert_close(g.float(), g_ref.float(), rtol=1e-3, atol=1e-6)


def test_stacked_lora_forward_unchanged() -> None:
    """The former inline formula, with the same global RNG state, gives the same bits."""
    torch.manual_seed(0)
    layer = StackedLoRALinear(torch.nn.Linear(13, 9), r=4, alpha=8.0, dropout=0.2)
    with torch.no_grad():
        layer.lora_B.normal_()
    layer.append_new()
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(2, 5, 13)
    layer.train()
    torch.manual_seed(1)
    y = layer(x)
    torch.manual_seed(1)
    xd = F.dropout(x, 0.2, True)
    delta = F.linear(F.linear(xd, layer.lora_A), layer.lora_B)
    delta = delta + F.linear(F.linear(xd, layer.lora_A_old), layer.lora_B_old)
    assert torch.equal(y, layer.base(x) + layer.scale * delta)
    y.sum().backward()
    assert layer.lora_A.grad is not None and layer.base.weight.grad is not None

"""Convergence layer (Liger style) of ops 3 and 4: a few optimizer steps of a tiny model trained
through the fused op follow the reference run step for step."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

import cl_kernels
from cl_kernels import _dispatch, use_backend
from cl_methods.adapters.stacked_lora import StackedLoRALinear


def _tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(cfg).eval()


def _train_head_loss(backend: str, steps: int = 4) -> tuple[list[float], torch.Tensor]:
    model = _tiny_llama()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 64, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    w = torch.rand(3, 11, generator=g) * (mask[:, :-1] * mask[:, 1:])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(steps):
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        with use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            loss = cl_kernels.weighted_cross_entropy(
                hidden, model.lm_head.weight, ids, w, shift_labels=True, chunk_size=8
            )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model.lm_head.weight.detach().clone()


@pytest.mark.parametrize("backend", ["cpp", "triton"])
def test_weighted_ce_trains_like_the_reference(backend: str) -> None:
    if backend == "cpp" and not _dispatch.cpp_status("weighted_ce")[0]:
        pytest.skip(_dispatch.cpp_status("weighted_ce")[1])
    if backend == "triton" and not _dispatch.triton_status(torch.device("cpu"))[0]:
        pytest.skip(_dispatch.triton_status(torch.device("cpu"))[1])
    ref_losses, ref_head = _train_head_loss("reference")
    losses, head = _train_head_loss(backend)
    assert ref_losses[-1] < ref_losses[0]  # it learns
    assert losses == pytest.approx(ref_losses, rel=1e-4)
    torch.testing.assert_close(head, ref_head, rtol=1e-4, atol=1e-5)


def _train_stacked_lora(backend: str, steps: int = 3) -> tuple[list[float], torch.Tensor]:
    torch.manual_seed(0)
    layers = torch.nn.Sequential(
        StackedLoRALinear(torch.nn.Linear(12, 20), r=4, alpha=8.0, dropout=0.0),
        torch.nn.Tanh(),
        StackedLoRALinear(torch.nn.Linear(20, 5), r=4, alpha=8.0, dropout=0.0),
    )
    for layer in (layers[0], layers[2]):
        with torch.no_grad():
            layer.lora_B.normal_(0, 0.1)
        layer.append_new()  # one frozen task on the stack, a fresh trainable adapter
        layer.base.requires_grad_(False)
    x = torch.randn(16, 12, generator=torch.Generator().manual_seed(2))
    target = torch.randn(16, 5, generator=torch.Generator().manual_seed(3))
    params = [p for p in layers.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.2)
    losses = []
    for _ in range(steps):
        with use_backend(backend):
            loss = (layers(x) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, layers[0].lora_A.detach().clone()


def test_stacked_lora_trains_like_the_reference() -> None:
    if not _dispatch.triton_status(torch.device("cpu"))[0]:
        pytest.skip(_dispatch.triton_status(torch.device("cpu"))[1])
    ref_losses, ref_a = _train_stacked_lora("reference")
    losses, a = _train_stacked_lora("triton")
    assert ref_losses[-1] < ref_losses[0]
    assert losses == pytest.approx(ref_losses, rel=1e-4)
    torch.testing.assert_close(a, ref_a, rtol=1e-4, atol=1e-5)

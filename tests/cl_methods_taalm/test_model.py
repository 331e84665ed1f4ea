"""Spec checklist item 3 (phi initialisation) and the Train-Attention model's structure."""

from __future__ import annotations

import math

import pytest
import torch

from cl_methods.taalm import LoraSettings, TrainAttention, add_lora

LORA = LoraSettings(r=2, alpha=4, dropout=0.0)


def test_initial_weights_are_near_sigmoid_4(tiny_llama):
    phi = TrainAttention.from_causal_lm(tiny_llama(0, hidden=64), lora=LORA)
    assert phi.head.bias.item() == 4.0
    std = phi.head.weight.std().item()
    assert 0.0007 < std < 0.0013  # N(0, 0.001^2) over 64 entries
    ids = torch.randint(0, 64, (4, 32), generator=torch.Generator().manual_seed(0))
    w = phi.token_weights(ids, torch.ones_like(ids))
    assert w.shape == (4, 31)
    assert abs(w.mean().item() - 0.982) < 0.002
    assert abs(w.mean().item() - 1 / (1 + math.exp(-4))) < 1e-3


def test_trainable_tensors_are_lora_and_head(tiny_llama):
    phi = TrainAttention.from_causal_lm(tiny_llama(0), lora=LORA)
    names = set(phi.trainable_parameters())
    assert {"head.weight", "head.bias"} <= names
    assert all("lora_" in n for n in names - {"head.weight", "head.bias"})
    lora_targets = {n.split(".")[-4] for n in names if "lora_" in n}
    assert lora_targets == set(LORA.target_modules)
    assert not any("lm_head" in n for n, _ in phi.named_parameters())  # the LM head is dropped
    frozen = TrainAttention.from_causal_lm(tiny_llama(0))
    assert set(frozen.trainable_parameters()) == {"head.weight", "head.bias"}
    full = TrainAttention.from_causal_lm(tiny_llama(0), train_backbone=True)
    assert len(full.trainable_parameters()) > 2


def test_theta_lora_starts_at_the_base_model(tiny_llama):
    base = tiny_llama(3)
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(1))
    before = base(input_ids=ids).logits.detach().clone()
    theta = add_lora(base, LORA)
    trainable = [n for n, p in theta.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("lm_head" in n for n in trainable)
    torch.testing.assert_close(theta(input_ids=ids).logits, before)  # B = 0


def test_lora_and_adapter_are_exclusive(tiny_llama):
    with pytest.raises(ValueError, match="either"):
        TrainAttention.from_causal_lm(tiny_llama(0), lora=LORA, adapter="some/adapter")

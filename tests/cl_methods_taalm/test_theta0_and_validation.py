"""Spec checklist item 7: theta0 is immutable (D1) and shares no storage; validation itself."""

from __future__ import annotations

import torch

from cl_methods.taalm import (
    InnerConfig,
    LoraSettings,
    TrainAttention,
    ValidationConfig,
    add_lora,
    meta_gradient,
    snapshot_theta0,
    validate,
)
from cl_methods.taalm.meta import clone_theta0

LORA = LoraSettings(r=2, alpha=4, dropout=0.0)


def _models(tiny_llama):
    phi = TrainAttention.from_causal_lm(tiny_llama(0), lora=LORA)
    theta = add_lora(tiny_llama(1), LORA)
    with torch.no_grad():  # a trained-looking theta0 (B != 0) so that everything moves
        for n, p in theta.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    return phi, theta


def test_theta0_is_bitwise_unchanged_and_shares_no_storage(tiny_llama, random_sample):
    phi, theta = _models(tiny_llama)
    theta0 = snapshot_theta0(theta)
    reference = {k: v.clone() for k, v in theta0.items()}
    params = dict(theta.named_parameters())
    g = torch.Generator().manual_seed(0)
    samples = [random_sample(g) for _ in range(5)]
    for k, v in theta0.items():
        assert v.data_ptr() != params[k].data_ptr()
        assert not v.requires_grad
    clones = clone_theta0(theta0)
    assert all(clones[k].data_ptr() != theta0[k].data_ptr() for k in theta0)
    for s in samples[:2]:
        meta_gradient(phi, phi.trainable_parameters(), theta, theta0, s, InnerConfig(lr=1e-2))
    res = validate(phi, theta, theta0, samples, ValidationConfig(lr=1e-2), pad_token_id=0)
    assert 0.0 <= res.acc <= 1.0 and res.nll > 0 and len(res.per_probe_acc) == 5
    for k in theta0:
        assert torch.equal(theta0[k], reference[k])  # bitwise
        assert torch.equal(params[k].detach(), reference[k])  # theta is reset after validation


def test_validation_trains_a_fresh_clone_each_time(tiny_llama, random_sample):
    phi, theta = _models(tiny_llama)
    theta0 = snapshot_theta0(theta)
    g = torch.Generator().manual_seed(1)
    samples = [random_sample(g, doc_len=12) for _ in range(6)]
    cfg = ValidationConfig(lr=5e-2)
    a = validate(phi, theta, theta0, samples, cfg, pad_token_id=0)
    b = validate(phi, theta, theta0, samples, cfg, pad_token_id=0)
    assert a.per_probe_nll == b.per_probe_nll  # no drift between validations (D1)
    untrained = validate(phi, theta, theta0, samples, ValidationConfig(epochs=0), pad_token_id=0)
    assert untrained.nll != a.nll  # training moved theta before scoring
    assert phi.training  # phi's mode is restored

"""Spec checklist item 10 and the other CKL baselines as registered methods."""

from __future__ import annotations

import math

import pytest
import torch

from cl_methods import build_method
from cl_methods.methods.ckl_finetune import CklFinetune
from cl_methods.methods.kadapter import KAdapterLM
from cl_methods.methods.recadam import RecAdam, RecAdamConfig, anneal_lambda, recadam_param_groups
from cl_methods.taalm import LoraSettings, add_lora, weighted_lm_loss


def test_build_method_takes_typed_values_and_refuses_unknown_keys():
    assert build_method("recadam", {"known_masking": False}).config.known_masking is False
    assert isinstance(build_method("recadam").config, RecAdamConfig)
    with pytest.raises(ValueError, match="unknown option"):
        build_method("recadam", {"known_maskin": False})


def test_finetune_is_l_w_with_unit_weights(tiny_llama):
    model = tiny_llama(0)
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    method = build_method("ckl_finetune")
    assert isinstance(method, CklFinetune)
    loss, out = method.forward_loss({"input_ids": ids, "attention_mask": mask}, model)
    torch.testing.assert_close(loss, weighted_lm_loss(out.logits, ids, mask))


def test_oracle_weights_only_the_object_positions(tiny_llama):
    model = tiny_llama(0)
    ids = torch.randint(0, 64, (1, 9), generator=torch.Generator().manual_seed(0))
    obj = torch.zeros(1, 8)
    obj[0, 4:6] = 1
    method = build_method("ckl_oracle")
    loss, out = method.forward_loss(
        {"input_ids": ids, "attention_mask": torch.ones_like(ids), "object_mask": obj}, model
    )
    nll = -torch.log_softmax(out.logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
    torch.testing.assert_close(loss, nll[4:6].sum() / (2 + 1e-6))
    with pytest.raises(KeyError, match="object_mask"):
        method.forward_loss({"input_ids": ids}, model)


# -- RecAdam ----------------------------------------------------------------------------------
def test_recadam_lambda_values():
    assert anneal_lambda(250) == 0.5
    assert anneal_lambda(260) == pytest.approx(1 / (1 + math.exp(-5)))
    assert anneal_lambda(1) == pytest.approx(1 / (1 + math.exp(124.5)))
    assert anneal_lambda(240) < 0.5  # LAMA-ckl runs ~240 steps: lambda stays below 0.5
    assert anneal_lambda(10_000) == 1.0 and anneal_lambda(-10_000) == 0.0


def test_recadam_update_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    p_star = p.detach().clone()
    opt = RecAdam([{"params": [p], "anneal": True, "weight_decay": 0.01}], lr=1e-3, eps=1e-6)
    grads = [
        torch.tensor([0.5, -0.1], dtype=torch.float64),
        torch.tensor([0.2, 0.3], dtype=torch.float64),
    ]
    x, m, v = (
        p_star.clone(),
        torch.zeros(2, dtype=torch.float64),
        torch.zeros(2, dtype=torch.float64),
    )
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = 1e-3 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        lam = 1 / (1 + math.exp(-0.5 * (t - 250)))
        x = x - step * lam * m / (v.sqrt() + 1e-6)
        x = x - 1e-3 * (1 - lam) * 5000 * (x - p_star)
        x = x - 1e-3 * 0.01 * x
        torch.testing.assert_close(p.detach(), x, rtol=1e-12, atol=1e-15)


def test_recadam_groupings_and_reference_reduces_to_adam_on_lora(tiny_llama):
    model = add_lora(tiny_llama(0), LoraSettings(r=2, alpha=4, dropout=0.0))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    ref_groups = recadam_param_groups(named, "reference", 0.01)
    assert len(ref_groups) == 1 and ref_groups[0]["anneal"] is False
    assert ref_groups[0]["weight_decay"] == 0.0
    named_all = [
        ("layer.weight", torch.nn.Parameter(torch.ones(2, 2))),
        ("layer.bias", torch.nn.Parameter(torch.ones(2))),
        ("norm.weight", torch.nn.Parameter(torch.ones(2))),
    ]
    groups = recadam_param_groups(named_all, "all", 0.01)
    assert [(len(g["params"]), g["anneal"], g["weight_decay"]) for g in groups] == [
        (1, True, 0.01),
        (2, True, 0.0),
    ]
    groups = recadam_param_groups(named_all, "reference", 0.01)
    assert [(len(g["params"]), g["anneal"], g["weight_decay"]) for g in groups] == [
        (2, True, 0.01),
        (1, False, 0.0),
    ]

    method = build_method("recadam", {"recadam_grouping": "reference"})
    method.prepare(model)
    params = [p for _, p in named]
    opt = method.configure_optimizer(params, lambda ps: torch.optim.AdamW(ps, lr=1e-4))
    start = [p.detach().clone() for p in params]
    g = torch.Generator().manual_seed(0)
    grads = [[torch.randn(p.shape, generator=g) for p in params] for _ in range(3)]
    ms = [torch.zeros_like(p) for p in params]
    vs = [torch.zeros_like(p) for p in params]
    xs = [s.clone() for s in start]
    for t, gs in enumerate(grads, start=1):
        for p, gr in zip(params, gs):
            p.grad = gr.clone()
        opt.step()
        for i, gr in enumerate(gs):  # plain Adam, eps 1e-6 on sqrt(v), no pull, no decay
            ms[i] = 0.9 * ms[i] + 0.1 * gr
            vs[i] = 0.999 * vs[i] + 0.001 * gr * gr
            step = 1e-4 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            xs[i] = xs[i] - step * ms[i] / (vs[i].sqrt() + 1e-6)
    for p, x in zip(params, xs):
        torch.testing.assert_close(p.detach(), x, rtol=1e-5, atol=1e-8)


def test_recadam_default_grouping_pulls_lora_toward_the_start(tiny_llama):
    model = add_lora(tiny_llama(0), LoraSettings(r=2, alpha=4, dropout=0.0))
    method = build_method("recadam")
    method.prepare(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = method.configure_optimizer(params, lambda ps: torch.optim.AdamW(ps, lr=1e-4))
    assert isinstance(opt, RecAdam) and all(gr["anneal"] for gr in opt.param_groups)
    assert opt.param_groups[0]["lr"] == 1e-4  # the trainer's learning rate


# -- K-Adapter --------------------------------------------------------------------------------
def test_kadapter_forward_backward_and_initial_logits(tiny_llama):
    base = tiny_llama(0, hidden=32, layers=3)
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.no_grad():
        base_logits = base(input_ids=ids, attention_mask=mask).logits
    method = build_method("kadapter", {"taps": (1, 2), "dropout": 0.0})
    model = method.prepare(base)
    assert isinstance(model, KAdapterLM)
    loss, out = method.forward_loss({"input_ids": ids, "attention_mask": mask}, model)
    diff = (out.logits - base_logits).abs().max()
    assert 0 < diff < 0.1 * base_logits.abs().max()  # close to the base at initialisation
    loss.backward()
    adapter = {id(p) for p in method.trainable_parameters(model)}
    for n, p in model.named_parameters():
        if id(p) in adapter:
            assert p.grad is not None, n
        else:
            assert p.grad is None and not p.requires_grad, n
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {
        "blocks",
        "ln_out",
    }
    with pytest.raises(ValueError, match="tap H_15"):
        build_method("kadapter").prepare(tiny_llama(0))  # 2 layers: H_15 does not exist


def test_kadapter_has_no_fixed_dtype(tiny_llama):
    base = tiny_llama(0).double()
    model = build_method("kadapter", {"taps": (1,), "dropout": 0.0}).prepare(base)
    ids = torch.randint(0, 64, (1, 6))
    out = model(input_ids=ids)
    assert out.logits.dtype == torch.float64 and out.logits.shape == (1, 6, 64)

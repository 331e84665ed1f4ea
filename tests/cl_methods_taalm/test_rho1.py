"""Spec checklist item 6: RHO-1 token selection (D2)."""

from __future__ import annotations

from fractions import Fraction
from math import ceil

import pytest
import torch

from cl_methods import build_method
from cl_methods.methods.rho1 import keep_counts, rho1_select
from cl_methods.taalm import LoraSettings, add_lora
from cl_methods.taalm.loss import target_mask, token_nll


def _exact_ceil(k, n):
    return ceil(Fraction(str(k)) * n)


def test_keeps_exactly_ceil_k_n_of_the_highest_scores_and_excludes_pads():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 12, generator=g)
    valid = torch.ones(4, 12)
    valid[1, 9:] = 0
    valid[2, 5:] = 0
    valid[3, 10:] = 0
    for k in (0.6, 0.5, 0.25, 1.0):
        keep = rho1_select(scores, valid, k)
        for b in range(4):
            n = int(valid[b].sum())
            assert int(keep[b].sum()) == _exact_ceil(k, n)  # 0.6 * 10 = 6, not 7
            assert torch.all(keep[b][valid[b] == 0] == 0)  # pads never kept
            kept = scores[b][keep[b] == 1]
            dropped = scores[b][(keep[b] == 0) & (valid[b] == 1)]
            if len(dropped):
                assert kept.min() >= dropped.max()
    assert keep_counts(torch.ones(1, 10), 0.6).item() == 6


def test_ties_go_to_the_earlier_position_deterministically():
    scores = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0]])
    valid = torch.ones(1, 5)
    keep = rho1_select(scores, valid, 0.4)  # ceil(2) = 2 of three tied scores
    assert keep.tolist() == [[0.0, 1.0, 1.0, 0.0, 0.0]]
    assert torch.equal(keep, rho1_select(scores, valid, 0.4))


def test_nan_scores_are_an_error():
    with pytest.raises(ValueError, match="NaN"):
        rho1_select(torch.tensor([[float("nan"), 1.0]]), torch.ones(1, 2), 0.5)


@pytest.mark.parametrize("criterion", ["excess_loss", "prob_gain"])
def test_loss_uses_the_frozen_theta0_reference_and_the_criterion(tiny_llama, criterion):
    model = add_lora(tiny_llama(0), LoraSettings(r=2, alpha=4, dropout=0.0))
    method = build_method("rho1", {"criterion": criterion})
    model = method.prepare(model)
    ref_model = tiny_llama(0)  # theta0 = base (LoRA B = 0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # training moved theta away from theta0
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.2, generator=g)
    ids = torch.randint(0, 64, (2, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    batch = {"input_ids": ids, "attention_mask": mask}
    loss, out = method.forward_loss(batch, model)
    nll = token_nll(out.logits, ids).detach()
    ref = token_nll(ref_model(input_ids=ids, attention_mask=mask).logits, ids).detach()
    score = nll - ref if criterion == "excess_loss" else torch.exp(-nll) - torch.exp(-ref)
    valid = target_mask(mask)
    expected = []
    for b in range(2):
        n = int(valid[b].sum())
        k = _exact_ceil(0.6, n)
        idx = [t for t in range(10) if valid[b, t]]
        top = sorted(idx, key=lambda t: (-score[b, t].item(), t))[:k]
        expected.append(sum(nll[b, t] for t in top) / k)
    torch.testing.assert_close(loss.detach(), torch.stack(expected).mean(), rtol=1e-5, atol=1e-6)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert all(
        torch.equal(v, method.reference[k]) for k, v in method.state_dict()["reference"].items()
    )

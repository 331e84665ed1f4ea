"""Spec checklist item 4: the token-weighted loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cl_methods.taalm import (
    deployment_weighted_loss,
    known_token_mask,
    phi_token_weights,
    target_mask,
    weighted_lm_loss,
)


def _data(seed=0, b=3, length=7, vocab=11):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, length, vocab, generator=g, dtype=torch.float64)
    ids = torch.randint(0, vocab, (b, length), generator=g)
    return logits, ids


def test_unit_weights_equal_per_sequence_cross_entropy_unpadded():
    logits, ids = _data()
    expected = torch.stack(
        [F.cross_entropy(logits[b, :-1], ids[b, 1:]) for b in range(ids.shape[0])]
    ).mean()
    got = weighted_lm_loss(logits, ids, torch.ones_like(ids))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)  # the 1e-6 in the denominator


def test_unit_weights_equal_per_sequence_cross_entropy_padded():
    logits, ids = _data()
    lengths = [7, 4, 2]
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    expected = torch.stack(
        [F.cross_entropy(logits[b, : n - 1], ids[b, 1:n]) for b, n in enumerate(lengths)]
    ).mean()
    got = weighted_lm_loss(logits, ids, mask)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)
    # D8: no "predict a pad" term; the mask is a_t * a_{t+1}
    m = target_mask(mask)
    assert m.sum(dim=1).tolist() == [n - 1 for n in lengths]


def test_one_hot_phi_weight_selects_the_previous_prediction():
    logits, ids = _data(b=1, length=6)
    nll = -torch.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
    for j in range(1, 6):  # phi position j weights the loss of predicting x_j, i.e. l_{j-1}
        s = torch.full((1, 6), -1e4, dtype=torch.float64)
        s[0, j] = 1e4
        w = phi_token_weights(s)
        got = weighted_lm_loss(logits, ids, torch.ones_like(ids), w)
        torch.testing.assert_close(got, nll[j - 1] / (1 + 1e-6), rtol=1e-9, atol=1e-9)


def test_known_token_masking_zeroes_exactly_the_greedy_correct_tokens():
    logits, ids = _data(b=2, length=8)
    ids[0, 3] = logits[0, 2].argmax()  # make a few targets greedy-correct
    ids[1, 1] = logits[1, 0].argmax()
    ids[1, 6] = logits[1, 5].argmax()
    km = known_token_mask(logits, ids)
    correct = logits[:, :-1].argmax(-1) == ids[:, 1:]
    assert torch.equal(km == 0, correct) and int(correct.sum()) >= 3
    nll = -torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
    expected = torch.stack([nll[b][~correct[b]].mean() for b in range(2)]).mean()
    got = weighted_lm_loss(logits, ids, torch.ones_like(ids), known_masking=True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)


def test_weighted_formula_and_gradient_paths():
    logits, ids = _data()
    mask = torch.ones_like(ids)
    mask[2, 5:] = 0
    w = torch.rand(3, 6, dtype=torch.float64, requires_grad=True)
    lg = logits.clone().requires_grad_()
    loss = weighted_lm_loss(lg, ids, mask, w)
    nll = -torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
    m = target_mask(mask, torch.float64)
    wm = w.detach() * m
    expected = ((wm * nll).sum(1) / (wm.sum(1) + 1e-6)).mean()
    torch.testing.assert_close(loss.detach(), expected)
    gw, gl = torch.autograd.grad(loss, [w, lg])
    assert gw.abs().sum() > 0 and gl.abs().sum() > 0  # meta-training: both paths carry gradients
    assert torch.all(gw[2, 4:] == 0)  # masked targets get no weight gradient
    dep = deployment_weighted_loss(lg, ids, mask, w)
    gw2 = torch.autograd.grad(dep, [w, lg], allow_unused=True)[0]
    assert gw2 is None  # deployment: weights are constants

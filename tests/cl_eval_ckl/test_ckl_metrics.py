"""Spec checklist item 8: CKL metrics and the LAMA-ckl summary."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from cl_eval.ckl import (
    CklSummary,
    ProbeScore,
    ckl_summary,
    format_ckl_table,
    format_twiki_table,
    mean_score,
    object_token_scores,
    twiki_period,
    write_json,
)


def _logits_predicting(pred_ids, vocab=5):
    """Logits (1, L, V) whose greedy prediction at position t is pred_ids[t]."""
    out = np.zeros((1, len(pred_ids), vocab))
    for t, p in enumerate(pred_ids):
        out[0, t, p] = 3.0
    return out


def test_predicted_id_zero_is_scored_correctly():
    ids = np.array([[1, 4, 0, 0, 2]])  # the object is "0 0" at positions 2-3
    logits = _logits_predicting([4, 0, 0, 3, 1])  # t=1 predicts x_2=0, t=2 predicts x_3=0
    mask = np.array([[0, 1, 1, 0]])
    (score,) = object_token_scores(logits, ids, mask)
    assert score.acc == 1.0  # the reference dropped predicted id 0 and scored 0 here
    wrong = _logits_predicting([4, 0, 3, 3, 1])
    assert object_token_scores(wrong, ids, mask)[0].acc == 0.5


def test_nll_in_nats_over_the_object_positions():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 6, 7))
    ids = rng.integers(0, 7, size=(2, 6))
    mask = np.zeros((2, 5))
    mask[0, 2:4] = 1
    mask[1, 4] = 1
    scores = object_token_scores(logits, ids, mask)

    def nll(b, t):
        row = logits[b, t]
        return math.log(np.exp(row).sum()) - row[ids[b, t + 1]]

    assert scores[0].nll == pytest.approx((nll(0, 2) + nll(0, 3)) / 2)
    assert scores[1].nll == pytest.approx(nll(1, 4))
    assert mean_score(scores).nll == pytest.approx((scores[0].nll + scores[1].nll) / 2)
    with pytest.raises(ValueError, match="no object position"):
        object_token_scores(logits, ids, np.zeros((2, 5)))


def test_torch_inputs_give_the_same_scores():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 6, 7))
    ids = rng.integers(0, 7, size=(2, 6))
    mask = np.zeros((2, 5))
    mask[:, 3:] = 1
    a = object_token_scores(logits, ids, mask)
    b = object_token_scores(torch.tensor(logits), torch.tensor(ids), torch.tensor(mask))
    for x, y in zip(a, b):
        assert x.acc == y.acc and x.nll == pytest.approx(y.nll, rel=1e-12)


def test_summary_takes_the_first_argmax_epoch():
    to_learn = [0.0, 0.1, 0.3, 0.2, 0.3]
    nf = [0.9, 0.88, 0.85, 0.8, 0.7]
    s = ckl_summary(to_learn, nf)
    assert s == CklSummary(0.3, 2, 0.85, 0.3 + 0.85)
    with pytest.raises(ValueError):
        ckl_summary([0.1], [0.2, 0.3])
    table = format_ckl_table({"TAALM": s})
    assert "| TAALM | 0.3000 | 2 | 0.8500 | 1.1500 |" in table


def test_temporalwiki_tables(tmp_path):
    p1 = twiki_period("0901-1001", [ProbeScore(0, 10.0), ProbeScore(0, 9.0)], [9.5, 10.5, 10.0])
    assert (p1.changed_nll, p1.unchanged_nll, p1.n_changed, p1.n_unchanged) == (9.5, 10.0, 2, 3)
    p2 = twiki_period("1001-1101", [4.0], [4.5])
    table = format_twiki_table({"Finetune": [p1, p2], "TAALM": [p2]})
    assert "| Finetune | 9.500 / 10.000 | 4.000 / 4.500 |" in table
    assert "| TAALM | - | 4.000 / 4.500 |" in table
    out = write_json({"Finetune": [p1, p2]}, tmp_path / "twiki.json")
    assert '"changed_nll": 9.5' in out.read_text()


def test_module_does_not_import_torch():
    code = "import sys, cl_eval.ckl; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

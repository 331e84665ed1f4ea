"""LAMOL (g and t): loss, what trains, pseudo data per task, state across a resume."""

from __future__ import annotations

import pytest
import torch
from lamol_tiny import bound, context, rows

from cl_methods.generative_replay import GenerativeReplay
from cl_methods.state_io import load_state, save_state


def test_loss_is_qa_plus_quarter_gen_on_a_hand_built_batch():
    method, model, _ = bound("lamol")
    batch = method.collator()([*rows(3), {"input": "x", "target": "blue", "is_pseudo": True}])
    loss, out = method.forward_loss(batch, model)
    keys = ("input_ids", "attention_mask", "position_ids", "labels")
    qa = model(**{k: batch[k] for k in keys}).loss
    gen = model(**{k: batch["gen_" + k] for k in keys}).loss
    assert torch.allclose(loss, qa + 0.25 * gen, atol=1e-5)
    assert out.qa_logits.shape == out.gen_logits.shape


def test_every_weight_trains_and_embeddings_match_the_tokenizer():
    method, model, tok = bound("lamol", {"gen_token": "t"})
    assert all(p.requires_grad for p in model.parameters())
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert method.optimizer_scope == "run"  # one AdamW for the run, as the codebase


@pytest.mark.parametrize("variant", ["g", "t"])
def test_pseudo_rows_per_old_task(variant):
    method, _model, _ = bound("lamol", {"gen_token": variant, "gen_top_k": 0})
    data0 = rows(10)
    assert method.task_train_data(context(method, 0, data0), data0) == [
        {**r, "is_pseudo": False, "gen_task": 0} for r in data0
    ]
    calls = []
    original = GenerativeReplay.generate

    def spy(self, task, data):
        calls.append(task.index)
        return original(self, task, data)

    GenerativeReplay.generate = spy
    try:
        data2 = rows(26, "blue")
        out = method.task_train_data(context(method, 2, data2), data2)
    finally:
        GenerativeReplay.generate = original
    real, pseudo = out[:26], out[26:]
    assert all(r["gen_task"] == (2 if variant == "t" else 0) for r in real)
    stats = method.replay.history[2]
    assert [s["requested"] for s in stats] == [2, 2]  # floor(floor(0.2 * 26) / 2) each
    assert len(pseudo) == sum(s["kept"] for s in stats) and calls == [2]
    for r in pseudo:
        assert set(r) == set(data2[0]) | {"is_pseudo", "gen_task"}
        assert r["is_pseudo"] is True and r["label_idx_cil"] is None
        assert r["input"] and r["target"]
    if variant == "t":
        assert {r["gen_task"] for r in pseudo} <= {0, 1}
    method.collator()(out)  # pseudo rows collate with the real ones


def test_a_resumed_task_trains_on_the_saved_pseudo_set(tmp_path, monkeypatch):
    method, _model, _ = bound("lamol", {"gen_token": "t"})
    data = rows(40)
    method.task_train_data(context(method, 0, data), data)
    monkeypatch.setattr(
        "cl_methods.generative_replay.pseudo.parse_lamol", lambda ids, *a: ("question", "red")
    )
    first = method.task_train_data(context(method, 1, data), data)
    assert len(first) == 48
    save_state(tmp_path, "method", method.state_dict())

    again, _model2, _ = bound("lamol", {"gen_token": "t"})
    again.load_state_dict(load_state(tmp_path, "method"))

    def boom(self, task, data):
        raise AssertionError("a resumed task must not draw new pseudo samples")

    monkeypatch.setattr(GenerativeReplay, "generate", boom)
    assert again.task_train_data(context(again, 1, data), data) == first


def test_the_draws_depend_on_the_seed_only():
    def pseudo(seed):
        method, _, _ = bound("lamol", {"gen_token": "g", "gen_top_k": 0})
        data = rows(40)
        out = method.task_train_data(context(method, 1, data, seed=seed), data)
        stats = method.replay.history[1][0]
        return [(r["input"], r["target"]) for r in out[40:]], stats

    a, stats = pseudo(1)
    assert stats["requested"] == 8 and stats["kept"] == len(a)
    assert pseudo(1)[0] == a
    assert pseudo(2)[0] != a

"""PCLL: its sequences, VAE pieces (pooling, KL, beta), losses, teacher, pseudo pairing."""

from __future__ import annotations

import pytest
import torch
from lamol_tiny import rows, tiny_llama

from cl_methods import RunInfo, StepInfo, TaskContext, build_method
from cl_methods.generative_replay import IGNORE, lm_loss
from cl_methods.generative_replay.pcll import (
    PCLLVAE,
    PCLLCollator,
    beta_schedule,
    gaussian_kl,
)


def bound(config=None, scenario="CIL"):
    model, tok = tiny_llama()
    method = build_method("pcll", {"max_length": 120, **(config or {})})
    method.bind_run(RunInfo(3, ("t0", "t1", "t2"), scenario=scenario, tokenizer=tok))
    return method, method.prepare(model), tok


def ctx(method, index, data, total_steps=10):
    return TaskContext(
        index=index, name=f"t{index}", train_data=data, collate=method.collator(), epochs=1,
        batch_size=2, seed=1, progress=False, total_steps=total_steps,
    )  # fmt: skip


def test_sequences_and_labels():
    _, tok = tiny_llama()
    col = PCLLCollator(tok, 120)
    b = col([{"input": "the sky", "target": "blue"}, {"input": "a", "target": "red"}])
    ids = lambda s: tok(s, add_special_tokens=False).input_ids  # noqa: E731
    eos = tok.eos_token_id
    p = [eos, *ids('In the current task, which intent category best describes: "')]
    keep = lambda key, i=0: b[key][i][b[key.replace("input_ids", "attention_mask")][i].bool()]  # noqa: E731
    assert keep("prior_input_ids").tolist() == [*p, eos]  # (a)
    assert keep("post_input_ids").tolist() == [*p, *ids(" the sky"), eos]  # (b)
    d = [*p, *ids(" the sky"), *ids(' "? Answer:'), *ids(" blue"), eos]
    assert keep("input_ids").tolist() == d  # (d)
    mask = b["attention_mask"][0].bool()
    assert b["labels"][0][mask].tolist() == [IGNORE] * (len(d) - 6) + [*ids(" blue"), eos]
    assert b["gen_labels"][0][mask].tolist() == [IGNORE, *d[1:]]  # everything after <gen>
    rec = b["rec_labels"][0][b["post_attention_mask"][0].bool()].tolist()
    assert rec == [IGNORE] * len(p) + [*ids(" the sky"), eos]
    inputs, golds = col.generation_batch([{"input": "the sky", "target": "blue"}])
    assert inputs["input_ids"][0].tolist() == d[:-6] and golds == ["blue"]  # (c)


def test_beta_kl_and_pooling():
    assert beta_schedule(0, 100) == 0.0 and beta_schedule(45, 100) == pytest.approx(0.5)
    assert beta_schedule(90, 100) == 1.0 and beta_schedule(99, 100) == 1.0
    assert beta_schedule(89, 100) < 1.0
    torch.manual_seed(0)
    m, lv = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.allclose(gaussian_kl(m, lv, m, lv), torch.zeros(3), atol=1e-6)
    m2, lv2 = torch.randn(3, 4), torch.randn(3, 4)
    q = torch.distributions.Normal(m, (0.5 * lv).exp())
    p = torch.distributions.Normal(m2, (0.5 * lv2).exp())
    want = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(gaussian_kl(m, lv, m2, lv2), want, atol=1e-5)
    vae = PCLLVAE(4)
    states = torch.randn(2, 5, 4)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    pooled = vae.pool(states, mask)
    states2 = states.clone()
    states2[0, :2] = 1e4  # pads: zero weight, whatever their states
    assert torch.allclose(vae.pool(states2, mask), pooled)
    assert torch.allclose(vae.pool(states[:1, 2:], mask[:1, 2:]), pooled[:1], atol=1e-6)


def test_loss_vae_gradients_and_til_refusal():
    method, model, _ = bound({"w_vae": 0.0})
    method.on_task_start(ctx(method, 0, rows(4)), model)
    batch = method.collator()(rows(3))
    loss, out = method.forward_loss(batch, model)
    want = lm_loss(out.logits, batch["labels"]) + 0.5 * lm_loss(out.logits, batch["gen_labels"])
    assert torch.allclose(loss, want, atol=1e-5)  # w_vae = 0: L_LM = QA + 0.5 GEN
    method.config.w_vae = 1.0
    method.step = 9  # beta = 1 at 90% of 10 steps
    loss, _ = method.forward_loss(batch, model)
    assert loss > want
    loss.backward()
    vae = model.pcll_vae
    for name in ("attention", "post_mean.weight", "post_logvar.weight", "prior_mean.weight",
                 "prior_logvar.weight", "latent_mlp.weight"):  # fmt: skip
        grad = vae.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="TIL"):
        bound(scenario="TIL")


def test_teacher_kd_and_pseudo_pairing(monkeypatch):
    method, model, _ = bound()
    data = rows(20)
    method.on_task_start(ctx(method, 0, data), model)
    monkeypatch.setattr(
        "cl_methods.methods.pcll.split_text_once", lambda text, sep: (text[:5] or "q", "red")
    )
    c1 = ctx(method, 1, data)
    real = method.task_train_data(c1, data)
    assert len(real) == 20 and method.history[1][0]["requested"] == 4
    assert len(method.pseudo_rows) == 4 and all(r["is_pseudo"] for r in method.pseudo_rows)
    method.on_task_start(c1, model)
    teacher = method.teacher.model
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), teacher.parameters()))
    mixed = method.batch_examples(c1, real[:2])
    assert len(mixed) == 4 and [r["is_pseudo"] for r in mixed] == [False, False, True, True]
    seen = [r["input"] for r in mixed[2:]]
    seen += [r["input"] for r in method.batch_examples(c1, real[:2])[2:]]
    # one pass over the pseudo rows is a permutation of them
    assert sorted(seen) == sorted(r["input"] for r in method.pseudo_rows)
    batch = method.collator()(mixed)
    torch.manual_seed(0)
    with_teacher, _ = method.forward_loss(batch, model)
    method.teacher.clear()
    torch.manual_seed(0)
    without, _ = method.forward_loss(batch, model)
    assert torch.allclose(with_teacher, without, atol=1e-5)  # self-KD = 0 at the task start


@pytest.mark.parametrize(
    "steps",
    [20, pytest.param(100, marks=pytest.mark.slow)],  # the spec's check: 100 steps
)
def test_no_nan_while_training(steps):
    method, model, _ = bound()
    data = rows(8) + rows(8, "blue", 8)
    c = ctx(method, 0, data, total_steps=steps)
    method.on_task_start(c, model)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    collate = method.collator()
    for step in range(steps):
        batch = collate([data[(2 * step + k) % len(data)] for k in range(2)])
        loss, _ = method.forward_loss(batch, model)
        assert torch.isfinite(loss), step
        loss.backward()
        opt.step()
        opt.zero_grad()
        method.after_optimizer_step(model, StepInfo(True, step + 1, step + 1))
    assert all(torch.isfinite(p).all() for p in model.parameters())

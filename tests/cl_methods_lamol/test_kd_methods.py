"""LAMOL_KD and L2KD: which rows get which loss, the teachers, what trains and carries."""

from __future__ import annotations

import torch
from lamol_tiny import bound, context, rows

from cl_methods.generative_replay import kd_loss, qa_gen_logits
from cl_methods.methods.lamol import LamolOutputs, lamol_loss
from cl_methods.state_io import load_state, save_state


def _mixed_batch(method):
    real = [{**r, "gen_task": 1} for r in rows(2, "blue")]
    pseudo = [{"input": "the sky 7 is", "target": "red", "is_pseudo": True, "gen_task": 0}] * 2
    return method.collator()(real + pseudo)


def _perturb(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def _kd_by_hand(student, teacher, batch, rows_mask, t=2.0):
    sub = {k: v[rows_mask] for k, v in batch.items()}
    s_qa, s_gen = qa_gen_logits(student, sub)
    t_qa, t_gen = qa_gen_logits(teacher, sub)
    return kd_loss(s_qa, t_qa, sub["labels"], t) + 0.25 * kd_loss(
        s_gen, t_gen, sub["gen_labels"], t
    )


def test_lamol_kd_teacher_is_the_model_at_task_start_and_kd_hits_pseudo_rows():
    method, model, _ = bound("lamol_kd")
    assert method.config.gen_token == "t" and method.config.kd_temperature == 2.0
    method.on_task_start(context(method, 0, rows(4)), model)
    assert not method.teacher
    method.on_task_start(context(method, 1, rows(4)), model)
    teacher = method.teacher.model
    for (n, p), (_, q) in zip(model.named_parameters(), teacher.named_parameters(), strict=True):
        assert torch.equal(p, q) and not q.requires_grad and p.requires_grad, n
    batch = _mixed_batch(method)
    pseudo = batch["is_pseudo"]
    loss, out = method.forward_loss(batch, model)
    real = lamol_loss(out, batch, 0.25, rows=~pseudo)
    assert torch.allclose(loss, real, atol=1e-6)  # self-KD = 0 right after the snapshot
    _perturb(model)
    loss, out = method.forward_loss(batch, model)
    kd = _kd_by_hand(model, teacher, batch, pseudo)
    assert kd > 0
    assert torch.allclose(loss, lamol_loss(out, batch, 0.25, rows=~pseudo) + kd, atol=1e-5)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    method.on_task_end(context(method, 1, rows(4)), model)
    assert not method.teacher  # nothing carried but the weights and the pseudo state


def test_lamol_kd_resume_restores_the_start_teacher(tmp_path):
    method, model, _ = bound("lamol_kd")
    method.on_task_start(context(method, 1, rows(4)), model)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    _perturb(model)  # mid-task training
    save_state(tmp_path, "m", method.state_dict())
    again, model2, _ = bound("lamol_kd")
    again.load_state_dict(load_state(tmp_path, "m"))
    again.on_task_resume(context(again, 1, rows(4)), model2)
    for n, p in again.teacher.model.named_parameters():
        assert torch.equal(p, start[n]), n


def test_l2kd_teacher_starts_from_pretrained_and_learns_the_task_alone():
    method, model, _ = bound("l2kd", {"lamol_gamma": 0.0})
    assert method.config.gen_batch_size == 4
    pretrained = {n: p.detach().clone() for n, p in model.named_parameters()}
    _perturb(model, 1)  # the student after task 0 differs from the pretrained weights
    data = rows(8, "blue")
    ctx = context(method, 1, data)
    method.on_task_start(ctx, model)
    assert not method.teacher
    seen = []
    original = method.train_teacher

    def spy(task, lr, wd):
        copy = method.pretrained
        for n, p in copy.named_parameters():
            assert torch.equal(p, pretrained[n]), n
        seen.append((lr, wd))
        return original(task, lr, wd)

    method.train_teacher = spy
    opt = method.task_optimizer(
        ctx, list(model.parameters()), lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)
    )
    assert seen == [(0.01, 0.1)] and method.teacher.task_index == 1
    teacher = method.teacher.model
    assert all(not p.requires_grad for p in teacher.parameters())
    assert any(not torch.equal(p, pretrained[n]) for n, p in teacher.named_parameters())
    assert opt.param_groups[0]["lr"] == 0.01
    # student: KD on real rows, hard LAMOL loss on pseudo rows
    batch = _mixed_batch(method)
    pseudo = batch["is_pseudo"]
    loss, out = method.forward_loss(batch, model)
    hard = lamol_loss(out, batch, 0.25, rows=pseudo)
    kd = _kd_by_hand(model, teacher, batch, ~pseudo)
    assert torch.allclose(loss, hard + kd, atol=1e-5)
    method.on_task_end(ctx, model)
    assert not method.teacher


def test_l2kd_task0_is_lamol():
    method, model, _ = bound("l2kd")
    ctx = context(method, 0, rows(4))
    method.on_task_start(ctx, model)
    method.task_optimizer(ctx, list(model.parameters()), lambda ps: torch.optim.AdamW(ps))
    assert not method.teacher
    batch = method.collator()(rows(3))
    loss, _ = method.forward_loss(batch, model)
    want = lamol_loss(LamolOutputs(*qa_gen_logits(model, batch)), batch, 0.25)
    assert torch.allclose(loss, want, atol=1e-6)

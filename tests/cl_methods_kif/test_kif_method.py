"""Recurrent-KIF's defining behaviour on a tiny LoRA model (spec checklist items 4 and 6-11)."""

import copy

import pytest
import torch
from safetensors.torch import load_file

from cl_methods import build_method
from cl_methods.adapters import load_peft_adapter, save_peft_adapter
from cl_methods.kif.importance import ImportanceState
from cl_methods.method import StepInfo, TaskContext
from cl_methods.trainer.schedule import epoch_permutation, micro_batches


def manual(tiny, **overrides):
    """Task 0 registered (no training), task 1 started: a hand-written loop's view."""
    model = tiny.TinyModel()
    method = tiny.kif(**overrides)
    model = method.prepare(model)
    with torch.no_grad():  # a non-zero B so that every LoRA element has a gradient
        for layer_b in (model.q.lora_B, model.v.lora_B):
            layer_b.normal_(0, 0.1)

    def compute_loss(batch):
        return model(**batch).loss, None

    ctx0 = TaskContext(0, "t0", tiny.task_rows(0), tiny.collate, compute_loss=compute_loss)
    method.on_task_start(ctx0, model)
    method.on_task_end(ctx0, model)
    ctx1 = TaskContext(1, "t1", tiny.task_rows(1), tiny.collate, compute_loss=compute_loss)
    method.on_task_start(ctx1, model)
    params = list(method._params.values())
    opt = method.configure_optimizer(params, lambda ps: torch.optim.AdamW(ps, lr=1e-2))
    return model, method, opt


def inner_step(tiny, model, method, opt, s, applied=True):
    rows = tiny.task_rows(1)[(5 * s) % 100 : (5 * s) % 100 + 5]
    model(**tiny.collate(rows)).loss.backward()
    torch.nn.utils.clip_grad_norm_(list(method._params.values()), 1.0)
    if applied:
        opt.step()
    method.after_optimizer_step(model, StepInfo(applied, s, s))
    opt.zero_grad(set_to_none=True)


def values(method):
    return {n: p.detach().clone() for n, p in method._params.items()}


def test_fusions_and_outer_steps_counted_per_k_steps(tiny):
    model, method, opt = manual(tiny)
    for s in range(1, 21):
        inner_step(tiny, model, method, opt, s)
    assert method.stats["fusions"] == 2 and method.stats["outer_steps"] == 8
    assert method.stats["inner_updates"] == 20
    # steps 17-20 came after the last fusion (not fused): theta moved away from the anchor
    assert any(not torch.equal(method.anchor[n], p) for n, p in method._params.items())


def test_anchor_only_inner_and_only_outer(tiny, monkeypatch):
    model, method, opt = manual(tiny)
    for s in range(1, 8):
        inner_step(tiny, model, method, opt, s)
    anchor0 = {k: v.clone() for k, v in method.anchor.items()}

    def ones(self, shapes, *a):
        return {n: torch.ones_like(t, dtype=torch.bool) for n, t in shapes.items()}

    def zeros(self, shapes, *a):
        return {n: torch.zeros_like(t, dtype=torch.bool) for n, t in shapes.items()}

    # all "only inner": theta = theta_k
    monkeypatch.setattr(method.inner, "masks", ones.__get__(method.inner))
    monkeypatch.setattr(method.outer, "masks", zeros.__get__(method.outer))
    theta_k = values(method)
    method.outer_and_fuse()
    for n, p in method._params.items():
        assert torch.allclose(p, theta_k[n], atol=1e-7)
        assert torch.equal(method.anchor[n], p.detach().float())  # anchor = theta after fusion
        assert not torch.equal(theta_k[n], anchor0[n])  # delta_in was not zero
    # all "only outer": theta = anchor + delta_out, with delta_in measured from the new anchor
    monkeypatch.setattr(method.inner, "masks", zeros.__get__(method.inner))
    monkeypatch.setattr(method.outer, "masks", ones.__get__(method.outer))
    inner_step(tiny, model, method, opt, 9)
    anchor1 = {k: v.clone() for k, v in method.anchor.items()}
    theta_k = values(method)
    method.run_outer_loop()
    after_outer = values(method)
    method.fuse_and_reset(theta_k)
    for n, p in method._params.items():
        assert torch.allclose(p, anchor1[n] + (after_outer[n] - theta_k[n]), atol=1e-6)


def test_resets_and_fresh_state_per_task(tiny):
    model, method, opt = manual(tiny)
    assert method.inner.empty and method.outer.empty
    for s in range(1, 9):
        inner_step(tiny, model, method, opt, s)
    assert method.inner.empty and not method.outer.empty  # reset_inner=1, reset_outer=0
    ctx2 = TaskContext(
        2, "t2", tiny.task_rows(2), tiny.collate, compute_loss=method.task.compute_loss
    )
    method.on_task_end(method.task, model)
    method.on_task_start(ctx2, model)
    assert method.inner.empty and method.outer.empty and method.stats["fusions"] == 0
    model, method, opt = manual(tiny, reset_outer=True)
    for s in range(1, 9):
        inner_step(tiny, model, method, opt, s)
    assert method.inner.empty and method.outer.empty


def test_outer_change_default_zero_lr_and_inner_emulation(tiny):
    model, method, opt = manual(tiny)
    before = values(method)
    method.run_outer_loop()
    assert any(not torch.equal(before[n], p) for n, p in method._params.items())
    assert method.stats["outer_steps"] == 4 and not method.outer.empty

    model, method, opt = manual(tiny, outer_lr=0.0)
    before = values(method)
    method.run_outer_loop()
    assert all(torch.equal(before[n], p) for n, p in method._params.items())

    model, method, opt = manual(tiny, outer_optimizer="inner")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    inner_step(tiny, model, method, opt, 1)
    sched.step()
    lr, last = opt.param_groups[0]["lr"], sched.last_epoch
    steps = lambda: max(int(st["step"]) for st in opt.state.values())  # noqa: E731
    assert steps() == 1
    method.run_outer_loop()
    assert steps() == 1 + 4  # the inner AdamW advanced by M steps
    assert sched.last_epoch == last and opt.param_groups[0]["lr"] == lr  # schedule untouched


def test_non_finite_gradients_leave_importance_untouched(tiny):
    model, method, opt = manual(tiny)
    inner_step(tiny, model, method, opt, 1)
    snap = {k: v.clone() for k, v in method.inner.ibar.items()}
    _name, p = next(iter(method._params.items()))
    model(**tiny.collate(tiny.task_rows(1)[:5])).loss.backward()
    p.grad[0, 0] = float("inf")
    method.after_optimizer_step(model, StepInfo(True, 2, 2))
    opt.zero_grad()
    p2 = list(method._params.values())[1]
    model(**tiny.collate(tiny.task_rows(1)[:5])).loss.backward()
    p2.grad.view(-1)[0] = float("nan")
    method.after_optimizer_step(model, StepInfo(True, 3, 3))
    opt.zero_grad()
    # a step the loss scaler skipped (fp16): finite gradients but applied=False
    model(**tiny.collate(tiny.task_rows(1)[:5])).loss.backward()
    method.after_optimizer_step(model, StepInfo(False, 4, 4))
    opt.zero_grad()
    assert method.inner.updates == 1 and method.stats["inner_skipped"] == 3
    assert all(torch.equal(snap[k], v) for k, v in method.inner.ibar.items())
    # a memory batch with a non-finite loss: no outer step, no outer EMA, weights finite
    bad = [dict(r, x=torch.full_like(r["x"], float("inf"))) for r in method.memory.task_rows[0]]
    method.memory.task_rows[0] = bad
    before = values(method)
    method.outer_and_fuse()
    assert method.stats["outer_skipped"] == 4 and method.outer.empty
    for _n, q in method._params.items():
        assert torch.isfinite(q).all()
    assert all(m.sum() == 0 for m in method.last_masks["outer"].values())
    assert all(torch.isfinite(before[n]).all() for n in before)


def test_task0_is_plain_lora_training(tiny, tmp_path):
    _, _plain = tiny.run(
        tmp_path / "seqlora", build_method("seqlora", {"dropout": 0.0, "r": 2}), k=1
    )
    trainer, _ = tiny.run(tmp_path / "kif", tiny.kif(), k=1)
    assert trainer.method.stats["outer_steps"] == 0 and trainer.method.inner.empty
    a = load_file(str(tmp_path / "seqlora" / "tasks" / "00_t0" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "kif" / "tasks" / "00_t0" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_inner_update_uses_post_step_weights_and_the_clipped_accumulated_gradient(
    tiny, tmp_path, monkeypatch
):
    lr, clip = 1e-2, 0.05
    method = tiny.kif()
    seen, start = [], {}
    original_update, original_start = ImportanceState.update, type(method).on_task_start

    def record(self, triples):
        triples = list(triples)
        if self is method.inner and not seen:
            seen.append({n: (t.detach().clone(), g.detach().clone()) for n, t, g in triples})
        return original_update(self, triples)

    def on_start(self, task, model):
        original_start(self, task, model)
        if task.index == 1:
            start["model"] = copy.deepcopy(model)

    monkeypatch.setattr(ImportanceState, "update", record)
    monkeypatch.setattr(type(method), "on_task_start", on_start)
    _trainer, _ = tiny.run(tmp_path, method, lr=lr, max_grad_norm=clip)
    # the first step of task 1, by hand: micro-batches 0 and 1 of epoch 0, loss / GA, clipped
    ref = start["model"]
    data = tiny.tasks()[1].train
    batches = micro_batches(len(data), 5, epoch_permutation(len(data), 3, 1, 0))
    for idx in batches[:2]:
        (ref(**tiny.collate([data[i] for i in idx])).loss / 2).backward()
    from cl_methods.kif import lora_parameters

    ref_params = lora_parameters(ref)
    torch.nn.utils.clip_grad_norm_(list(ref_params.values()), clip)
    for name, (theta, grad) in seen[0].items():
        g = ref_params[name].grad
        assert torch.allclose(grad, g, atol=1e-7), name
        post = ref_params[name].detach() - lr * g / (g.abs() + 1e-8)  # AdamW's first step
        assert torch.allclose(theta, post, atol=1e-6), name


def test_adapters_are_carried_and_round_trip(tiny, tmp_path, monkeypatch):
    method = tiny.kif()
    starts = {}
    original = type(method).on_task_start

    def on_start(self, task, model):
        original(self, task, model)
        starts[task.index] = {n: p.detach().clone() for n, p in self._params.items()}

    monkeypatch.setattr(type(method), "on_task_start", on_start)
    trainer, _ = tiny.run(tmp_path, method)
    saved = load_file(str(tmp_path / "tasks" / "00_t0" / "adapter_model.safetensors"))
    saved = {
        k.removeprefix("base_model.model.").removesuffix(".weight"): v for k, v in saved.items()
    }
    assert any(k.endswith("lora_B") and v.abs().sum() > 0 for k, v in saved.items())
    for name, value in starts[1].items():
        assert torch.equal(saved[name], value), name  # task 1 starts from task 0's adapter
    # save / reload of the final adapter (PEFT's format) is bit-identical
    path = save_peft_adapter(trainer.model, tmp_path / "final")
    fresh = tiny.kif().prepare(tiny.TinyModel(seed=5))
    load_peft_adapter(fresh, path, into="new")
    for (n, a), b in zip(trainer.model.named_parameters(), fresh.parameters()):
        if "lora" in n:
            assert torch.equal(a, b), n

    reference_like = tiny.kif(carry_adapters=False)
    starts.clear()
    tiny.run(tmp_path / "reset", reference_like)
    b_names = [n for n in starts[1] if n.endswith("lora_B")]
    assert all(starts[1][n].abs().sum() == 0 for n in b_names)  # re-initialised (emulation)


def test_trainer_run_counts_and_exports_stats(tiny, tmp_path):
    trainer, _result = tiny.run(tmp_path, tiny.kif(inner_iterations=3, outer_iterations=2))
    stats = trainer.method.stats
    steps = 10  # 100 examples / (5 x 2) per step
    assert stats["fusions"] == steps // 3 and stats["outer_steps"] == 2 * (steps // 3)
    assert (tmp_path / "tasks" / "01_t1" / "kif_stats.json").is_file()
    memory = trainer.method.memory  # 2% of each task's 100 examples (t1's added at its end)
    assert memory.task_names == ["t0", "t1"] and [len(r) for r in memory.task_rows] == [2, 2]


def test_resume_mid_task_matches_an_uninterrupted_run(tiny, tmp_path, monkeypatch, faults):
    from cl_methods import ContinualTrainer

    full, _ = tiny.run(tmp_path / "full", tiny.kif(inner_iterations=3), checkpoint_every=4)
    cut_dir = tmp_path / "cut"
    faults.inject(monkeypatch, faults.StopAfterCheckpoint(16))
    with pytest.raises(faults.Interrupted):
        tiny.run(cut_dir, tiny.kif(inner_iterations=3), checkpoint_every=4)
    monkeypatch.undo()
    trainer = ContinualTrainer(
        tiny.TinyModel(),
        tiny.kif(inner_iterations=3),
        tiny.trainer_config(cut_dir, checkpoint_every=4),
    )
    trainer.fit(tiny.tasks(), resume=True)
    for (n, a), b in zip(full.model.named_parameters(), trainer.model.parameters()):
        assert torch.equal(a, b), n
    assert trainer.method.stats == full.method.stats


def test_select_best_on_dev_is_opt_in_and_restores_the_lowest_dev_loss(tiny, tmp_path):
    method = tiny.kif(select_best_on_dev=True, dev_every=2)
    for k in range(2):
        method.set_dev_data(f"t{k}", tiny.task_rows(10 + k, n=30))
    checks = []
    original = method.selector.consider

    def consider(loss, step, params):
        checks.append(loss)
        original(loss, step, params)

    method.selector.consider = consider
    tiny.run(tmp_path, method, lr=0.05)
    assert len(checks) == 10  # steps 2, 4, ..., 10 of each task
    assert method.stats["best_on_dev"]["loss"] == min(checks[-5:])
    assert len(method.selector.dev["t1"]) == 25  # dev_per_task of the 30 given
    final = {n: p.detach() for n, p in method._params.items()}
    assert all(torch.equal(final[n], method.selector.best[n]) for n in final)
    plain, _ = tiny.run(tmp_path / "plain", tiny.kif())
    assert "best_on_dev" not in plain.method.stats  # off by default: the last weights are kept


def test_outer_steps_with_a_loss_scaler_unscale_before_clipping(tiny):
    def with_scaler(method, scale):
        scaler = torch.amp.GradScaler("cpu", init_scale=scale)
        method.task.grad_scaler = scaler
        method.task.backward = lambda loss: scaler.scale(loss).backward()
        return scaler

    _, plain, _ = manual(tiny)
    plain.run_outer_loop()
    _, scaled, _ = manual(tiny)
    scaler = with_scaler(scaled, 2.0**12)
    scaled.run_outer_loop()
    for name, p in plain._params.items():  # same memory draws, same unscaled gradients
        assert torch.allclose(p, scaled._params[name], atol=1e-6), name
    assert scaled.stats["outer_steps"] == 4 and scaler.get_scale() == 2.0**12
    for n in plain.outer.ibar:
        assert torch.allclose(plain.outer.ibar[n], scaled.outer.ibar[n], rtol=1e-5, atol=1e-9)
    # an overflowing batch: no step, no importance, and the scale backs off
    _, bad, _ = manual(tiny)
    scaler = with_scaler(bad, 2.0**12)
    bad.memory.task_rows[0] = [dict(r, y=r["y"] * 1e36) for r in bad.memory.task_rows[0]]
    before = values(bad)
    bad.run_outer_loop()
    assert bad.stats["outer_skipped"] == 4 and bad.outer.empty
    assert scaler.get_scale() < 2.0**12
    assert all(torch.equal(before[n], p) for n, p in bad._params.items())

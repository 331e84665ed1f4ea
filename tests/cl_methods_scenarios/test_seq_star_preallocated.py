"""SEQ* with pre-allocated heads (P+W+FixBC+Cos, spec §2.1): what trains during task t.

The topic3 runs (results/classic/topic3_notes.md) scored 0 on every task after the first. These
tests pin the properties checked while investigating it, so that the zeros stay explained by the
method's dynamics and not by a wiring fault: during task t the current head is in the optimizer
(classifier lr), gets non-zero gradients at every step and moves; future heads train as
negatives (and are pushed away from the features); old heads stay in the run's one AdamW with
lr 0 (as in the classic codebase) and get no gradient, the encoder leaves it after the warm-up,
both stay bit-identical; training logits span every head, evaluation logits heads 0..t. With the
run's one optimizer, head t arrives at task t with the Adam moments it built as a negative.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cl_methods import build_method
from cl_methods.classic import ClassifierModel, LabelSpace

SEQ_STAR = {
    "fix_encoder": True,
    "warmup_epochs": 1,
    "warmup_target": "ce-loss",
    "fix_old_classifier": True,
    "preallocated_classifier": True,
}


def _max_cos(model, head: int, batch) -> float:
    """Mean over examples of the best cosine between a feature and a row of ``head``."""
    was = model.training
    model.eval()
    with torch.no_grad():
        feats = model.features(batch["input_ids"], batch["attention_mask"])
    model.train(was)
    rows = F.normalize(model.heads[head].weight.detach(), dim=-1)
    return float((F.normalize(feats, dim=-1) @ rows.T).max(dim=-1).values.mean())


def test_seq_star_trains_the_current_and_future_heads_only(tiny, tmp_path):
    space = LabelSpace((2, 2, 2))
    model = ClassifierModel(tiny.bert(), space, head="cosine")
    method = build_method("seq", SEQ_STAR)
    tasks = tiny.tasks(space)
    # head 2 arrives at task 2 with Adam moments pointing away from the features: the first
    # steps keep that direction, so its task gets two epochs (4 steps) to turn it round
    tasks[2].params["epochs"] = 2
    probe = tiny.collate(tasks[2].train)
    log: dict[int, dict] = {}

    start, end, after_backward = method.on_task_start, method.on_task_end, method.after_backward

    def on_start(ctx, mdl):
        start(ctx, mdl)
        held = method.optimizer.state if method.optimizer is not None else {}
        log[ctx.index] = {
            "adam_state": [bool(held.get(h.weight)) for h in model.heads],
            "optimizer": method.optimizer,
            "heads": [h.weight.detach().clone() for h in model.heads],
            "body": [p.detach().clone() for p in model.backbone.parameters()],
            "grads": [],
            "cos_future": _max_cos(model, 2, probe),
        }

    def on_backward(mdl):
        rec = log[max(log)]
        rec["grads"].append(
            [None if h.weight.grad is None else h.weight.grad.clone() for h in mdl.heads]
        )
        rec.setdefault("logit_width", mdl(**tiny.collate(tasks[0].train[:2])).logits.shape[-1])
        return after_backward(mdl)

    def on_end(ctx, mdl):
        t = ctx.index
        groups = {id(p): g for g in method.optimizer.param_groups for p in g["params"]}
        log[t]["in_optimizer"] = [id(h.weight) in groups for h in model.heads]
        log[t]["lr"] = [
            groups[id(h.weight)]["lr"] if id(h.weight) in groups else None for h in model.heads
        ]
        log[t]["body_in_optimizer"] = any(id(p) in groups for p in model.backbone.parameters())
        log[t]["moved"] = [
            not torch.equal(w, h.weight.detach()) for w, h in zip(log[t]["heads"], model.heads)
        ]
        log[t]["body_moved"] = any(
            not torch.equal(a, b.detach())
            for a, b in zip(log[t]["body"], model.backbone.parameters())
        )
        log[t]["cos_future_end"] = _max_cos(model, 2, probe)
        end(ctx, mdl)

    method.on_task_start, method.on_task_end, method.after_backward = on_start, on_end, on_backward
    widths = []
    tiny.run(
        model,
        method,
        tasks,
        tmp_path,
        evaluate=lambda m, task, a: widths.append(predict_width(m, tiny, task)) or 0.0,
    )

    assert all(rec["logit_width"] == space.num_classes for rec in log.values())  # P: all heads
    assert widths == [2, 4, 4, 6, 6, 6]  # evaluation after task t: heads 0..t only
    # task 0: the warm-up trains the encoder; every head is pre-allocated and trains
    assert log[0]["body_moved"] and all(log[0]["moved"])
    # task 1: old head 0 (lr 0, no gradient) and the encoder (out of the optimizer) frozen;
    # heads 1, 2 train
    rec, lr = log[1], method.config.classifier_lr
    assert rec["in_optimizer"] == [True, True, True] and not rec["body_in_optimizer"]
    assert rec["lr"] == [0.0, lr, lr]
    assert rec["moved"] == [False, True, True] and not rec["body_moved"]
    assert all(g[0] is None for g in rec["grads"])
    assert all(g[1] is not None and g[1].abs().sum() > 0 for g in rec["grads"])
    # task 2: only the last head is left to train
    assert log[2]["lr"] == [0.0, 0.0, lr] and log[2]["moved"] == [False, False, True]
    # one AdamW for the run: head t starts task t with the moments it built as a negative
    assert log[0]["optimizer"] is None and log[1]["optimizer"] is log[2]["optimizer"]
    assert log[1]["adam_state"] == [True, True, True] and log[2]["adam_state"] == [True] * 3
    # future head 2 is trained as a negative in tasks 0 and 1: pushed away from the features
    assert log[0]["cos_future_end"] < log[0]["cos_future"]
    assert log[1]["cos_future_end"] < log[1]["cos_future"]
    # ... and its own task pulls it back towards them
    assert log[2]["cos_future_end"] > log[2]["cos_future"]


def predict_width(model, tiny, task) -> int:
    batch = tiny.collate(task.test)
    return int(
        model.cil_logits(model.features(batch["input_ids"], batch["attention_mask"])).shape[-1]
    )


def _adam_state_at_task_start(tiny, tmp_path, scope: str) -> dict[int, list[int]]:
    """Per task t: the Adam step count of each head's weight in the optimizer of task t, read
    right after the trainer builds it (before any step of task t)."""
    space = LabelSpace((2, 2, 2))
    model = ClassifierModel(tiny.bert(), space, head="cosine")
    method = build_method("seq", {**SEQ_STAR, "optimizer_scope": scope})
    steps: dict[int, list[int]] = {}
    build = method.task_optimizer

    def task_optimizer(task, params, default):
        optimizer = build(task, params, default)
        state = [optimizer.state.get(h.weight, {}).get("step") for h in model.heads]
        steps[task.index] = [0 if s is None else int(s) for s in state]
        return optimizer

    method.task_optimizer = task_optimizer
    tiny.run(model, method, tiny.tasks(space), tmp_path)
    return steps


def test_seq_keeps_one_adamw_so_head_t_arrives_with_adam_state(tiny, tmp_path):
    """The classic codebase's SEQ* (default ``optimizer_scope="run"``): head t's Adam state is
    non-empty when task t starts (it trained as a negative in tasks 0..t-1); with a fresh AdamW
    per task (``"task"``) it is empty, and ``"carry"`` takes it over into the new optimizer."""
    run = _adam_state_at_task_start(tiny, tmp_path / "run", "run")
    assert run[0] == [0, 0, 0]
    # tiny.tasks: 4 rows per class, 2 classes, batch 4 -> 2 steps per epoch; task 0 has 1 + 1
    # warm-up epochs (4 steps), task 1 one epoch (2 steps)
    assert run[1][1] == 4 and run[1][2] == 4
    assert run[2][2] == 6
    fresh = _adam_state_at_task_start(tiny, tmp_path / "task", "task")
    assert fresh[1] == [0, 0, 0] and fresh[2] == [0, 0, 0]
    carry = _adam_state_at_task_start(tiny, tmp_path / "carry", "carry")
    assert carry[1][1:] == run[1][1:] and carry[2][2] == run[2][2]


def test_the_run_optimizer_survives_a_resume_at_a_task_boundary(tiny, tmp_path):
    """The AdamW that SEQ keeps across tasks is checkpointed at task boundaries: a run stopped
    after task 0 and resumed ends bit-identical to the uninterrupted one."""
    from cl_methods import ContinualTrainer, TrainerCallback, TrainerConfig

    class Stop(Exception):
        pass

    class StopAfterTask0(TrainerCallback):
        def on_task_end(self, view):
            if view.task == 0:
                raise Stop

    space = LabelSpace((2, 2, 2))

    def trainer(out, callbacks=()):
        cfg = TrainerConfig(
            output_dir=str(out), lr=1e-2, batch_size=4, seed=1, log_with=(), progress=False
        )
        model = ClassifierModel(tiny.bert(), space, head="cosine")
        return ContinualTrainer(model, build_method("seq", SEQ_STAR), cfg, callbacks=callbacks)

    full = trainer(tmp_path / "full")
    full.fit(tiny.tasks(space))
    cut = trainer(tmp_path / "cut", [StopAfterTask0()])
    with pytest.raises(Stop):
        cut.fit(tiny.tasks(space))
    assert (tmp_path / "cut" / "checkpoints" / "latest").read_text().endswith("t00-task_done")
    resumed = trainer(tmp_path / "cut")
    resumed.fit(tiny.tasks(space), resume=True)
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(a, b), name
    kept_a, kept_b = full.method.optimizer, resumed.method.optimizer
    for pa, pb in zip(full.model.heads.parameters(), resumed.model.heads.parameters()):
        assert torch.equal(kept_a.state[pa]["exp_avg"], kept_b.state[pb]["exp_avg"])

"""SEQ* with pre-allocated heads (P+W+FixBC+Cos, spec §2.1): what trains during task t.

The topic3 runs (results/classic/topic3_notes.md) scored 0 on every task after the first. These
tests pin the properties checked while investigating it, so that the zeros stay explained by the
method's dynamics and not by a wiring fault: during task t the current head is in the optimizer
(classifier lr), gets non-zero gradients at every step and moves; future heads train as
negatives (and are pushed away from the features); old heads and the encoder stay out of the
optimizer and bit-identical; training logits span every head, evaluation logits heads 0..t.
"""

from __future__ import annotations

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
    probe = tiny.collate(tasks[2].train)
    log: dict[int, dict] = {}

    start, end, after_backward = method.on_task_start, method.on_task_end, method.after_backward

    def on_start(ctx, mdl):
        start(ctx, mdl)
        log[ctx.index] = {
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
        groups = {id(p): g for g in method._optimizer.param_groups for p in g["params"]}
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
    # task 1: old head 0 and the encoder frozen and out of the optimizer; heads 1, 2 train
    rec = log[1]
    assert rec["in_optimizer"] == [False, True, True] and not rec["body_in_optimizer"]
    assert rec["moved"] == [False, True, True] and not rec["body_moved"]
    assert rec["lr"][1] == method.config.classifier_lr
    assert all(g[0] is None for g in rec["grads"])
    assert all(g[1] is not None and g[1].abs().sum() > 0 for g in rec["grads"])
    # task 2: only the last head is left to train
    assert log[2]["in_optimizer"] == [False, False, True] and log[2]["moved"] == [
        False,
        False,
        True,
    ]
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

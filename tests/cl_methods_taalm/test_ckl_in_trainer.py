"""Every CKL method inside ContinualTrainer: training, per-epoch evaluations, and an interrupted
run resumed from its last step checkpoint giving bit-identical weights and scores (so the
method's state round-trips through state_dict/load_state_dict). Mix-review's batch composition
and TAALM + Mix-review weighting the replay documents, both through the trainer."""

from __future__ import annotations

import pytest
import torch

from cl_methods import (
    ContinualTrainer,
    TaskScore,
    TrainerCallback,
    TrainerConfig,
    TrainTask,
    build_method,
)
from cl_methods.methods.mixreview import ReplayStream
from cl_methods.taalm import (
    LoraSettings,
    TrainAttention,
    add_lora,
    save_train_attention,
    target_mask,
    token_nll,
)

LORA = LoraSettings(r=2, alpha=4, dropout=0.1)
VOCAB = 64


class Interrupted(Exception):
    pass


class StopAfter(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_checkpoint_saved(self, view) -> None:
        if view.global_step >= self.step:
            raise Interrupted


def _docs(seed: int, n: int, replay: bool = False) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = 6 + i % 4
        ids = torch.randint(3, VOCAB, (length,), generator=g)
        ids[0] = 1
        if replay:
            ids[1] = 2  # replay documents are recognisable by their second token
        out.append({"ids": ids.tolist(), "object": (2, 4)})
    return out


def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["ids"]) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    obj = torch.zeros(len(rows), width - 1)
    for i, r in enumerate(rows):
        ids[i, : len(r["ids"])] = torch.tensor(r["ids"])
        mask[i, : len(r["ids"])] = 1
        lo, hi = r["object"]
        obj[i, lo:hi] = 1
    return {"input_ids": ids, "attention_mask": mask, "object_mask": obj}


PROBES = collate(_docs(99, 4))


def evaluate(model, task, accelerator) -> TaskScore:
    batch = {k: v.to(accelerator.device) for k, v in PROBES.items()}
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    nll = token_nll(logits, batch["input_ids"])
    mask = target_mask(batch["attention_mask"], nll.dtype)
    value = float((nll * mask).sum() / mask.sum())
    return TaskScore(score=-value, extra={"nll": value})


@pytest.fixture(scope="module")
def phi_checkpoint(tmp_path_factory, tiny_llama):
    root = tmp_path_factory.mktemp("phi")
    tiny_llama(5).save_pretrained(root / "backbone")
    from cl_methods.taalm import load_causal_lm

    lm = load_causal_lm(str(root / "backbone"), quantization="none")
    phi = TrainAttention.from_causal_lm(lm, lora=LoraSettings(r=2, alpha=4, dropout=0.0))
    with torch.no_grad():
        phi.head.weight.normal_(0, 1.0)
        phi.head.bias.fill_(0.0)
    save_train_attention(phi, root / "ckpt", backbone=str(root / "backbone"), lora=phi_lora())
    return str(root / "ckpt")


def phi_lora() -> LoraSettings:
    return LoraSettings(r=2, alpha=4, dropout=0.0)


REPLAY = _docs(7, 5, replay=True)

CASES = {
    "ckl_finetune": {},
    "ckl_oracle": {},
    "kadapter": {"taps": (1,), "dropout": 0.1},
    "recadam": {"anneal_t0": 0},  # lambda ~ 1: the gradient matters from the first step
    "mixreview": {},
    "rho1": {},
    "taalm": {},
    "taalm+mixreview+recadam": {
        "combine_with": ("mixreview", "recadam"),
        "recadam": {"anneal_t0": 0},
    },
    "taalm+kadapter+rho1": {
        "combine_with": ("kadapter", "rho1"),
        "kadapter": {"taps": (1,), "dropout": 0.1},
    },
}


def _method(case: str, phi_ckpt: str):
    name = case.split("+")[0]
    options = dict(CASES[case])
    if name == "taalm":
        options.update(phi_checkpoint=phi_ckpt, phi_quantization="none")
    method = build_method(name, options)
    parts = method.parts if name == "taalm" else [method]
    for part in parts:
        if part.name == "mixreview":
            part.set_replay_records(REPLAY)
    return method


def _model(case: str, tiny_llama):
    base = tiny_llama(3)
    if "kadapter" in case:
        return base
    torch.manual_seed(11)
    return add_lora(base, LORA)


def _fit(case, tiny_llama, phi_ckpt, out, resume=False, stop_after=None):
    cfg = TrainerConfig(
        output_dir=str(out),
        epochs=2,
        lr=1e-3,
        batch_size=2,
        grad_accum=2,
        max_grad_norm=0.0,
        weight_decay=0.01,
        checkpoint_every=2,
        eval_before_training=True,
        eval_every_epoch=True,
        log_with=(),
        progress=False,
        seed=5,
    )
    # fault injection: stop right after the checkpoint at global step >= stop_after
    callbacks = [] if stop_after is None else [StopAfter(stop_after)]
    trainer = ContinualTrainer(
        _model(case, tiny_llama),
        _method(case, phi_ckpt),
        cfg,
        evaluate=evaluate,
        callbacks=callbacks,
    )
    tasks = [TrainTask(f"period{i}", _docs(10 + i, 7), collate) for i in range(2)]
    result = trainer.fit(tasks, resume=resume)
    trained = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    return result, trained, trainer


def _tasks(record=None):
    def recording_collate(rows):
        if record is not None:
            record.append(rows)
        return collate(rows)

    return [TrainTask(f"period{i}", _docs(10 + i, 7), recording_collate) for i in range(2)]


@pytest.mark.parametrize("case", list(CASES))
def test_method_trains_and_resumes_exactly(case, tiny_llama, phi_checkpoint, tmp_path):
    initial = {n: p.detach().clone() for n, p in _model(case, tiny_llama).named_parameters()}
    full, weights, trainer = _fit(case, tiny_llama, phi_checkpoint, tmp_path / "full")
    # 7 documents, micro-batch 2, 2 micro-batches per step: 2 steps per epoch, 2 epochs, 2 tasks
    assert [s["steps"] for s in full.train_stats] == [4, 4]
    assert [(e["task"], e["epoch"]) for e in full.epoch_scores] == [
        (-1, 0),
        (0, 1),
        (0, 2),
        (1, 1),
        (1, 2),
    ]
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    changed = [n for n in trainable if n in initial and not torch.equal(initial[n], weights[n])]
    assert changed or "kadapter" in case  # K-Adapter's blocks are created by prepare
    assert all(torch.isfinite(weights[n]).all() for n in trainable)

    cut = tmp_path / "cut"
    with pytest.raises(Interrupted):
        _fit(case, tiny_llama, phi_checkpoint, cut, stop_after=6)  # task 1, mid-task
    assert (cut / "checkpoints" / "latest").read_text().startswith("ckpt-0000006-t01-in_task")
    resumed, resumed_weights, _ = _fit(case, tiny_llama, phi_checkpoint, cut, resume=True)
    assert resumed.epoch_scores == full.epoch_scores
    assert resumed.matrix == full.matrix
    for name in trainable:
        assert torch.equal(resumed_weights[name], weights[name]), name


def test_mixreview_batch_composition_through_the_trainer(tiny_llama, phi_checkpoint, tmp_path):
    seen: list[list[dict]] = []
    method = _method("mixreview", phi_checkpoint)
    cfg = TrainerConfig(
        output_dir=str(tmp_path),
        epochs=2,
        lr=1e-3,
        batch_size=2,
        grad_accum=2,
        log_with=(),
        progress=False,
        seed=5,
    )
    trainer = ContinualTrainer(_model("mixreview", tiny_llama), method, cfg)
    tasks = _tasks(seen)
    trainer.fit(tasks)
    # per epoch the micro-batches hold 2, 2, 2, 1 training documents (7 in all)
    assert len(seen) == 2 * 2 * 4
    replay_ids = [tuple(r["ids"]) for r in REPLAY]
    train_ids = {tuple(d["ids"]) for t in tasks for d in t.train}
    for call, rows in enumerate(seen):
        task = call // 8
        n = [2, 2, 2, 1][call % 4]
        assert len(rows) == n + n  # n training + floor(n * 1) replay documents
        assert all(tuple(r["ids"]) in train_ids for r in rows[:n])
        # every micro-batch reserves a block of 2 stream positions (the trainer's batch size)
        start = 2 * (call % 8)
        expected = ReplayStream(len(REPLAY), 42, task).indices(start, n)
        assert [replay_ids.index(tuple(r["ids"])) for r in rows[n:]] == expected
    assert method.state_dict() == {"task": 1, "position": 16}


def test_taalm_with_mixreview_weights_the_replay_documents(tiny_llama, tmp_path):
    backbone = tiny_llama(5)
    phi = TrainAttention.from_causal_lm(backbone, lora=phi_lora())
    with torch.no_grad():
        phi.head.weight.normal_(0, 1.0)
        phi.head.bias.fill_(0.0)
    phi_inputs: list[torch.Tensor] = []
    phi.register_forward_pre_hook(
        lambda m, args, kwargs: phi_inputs.append(
            kwargs.get("input_ids", args[0] if args else None)
        ),
        with_kwargs=True,
    )
    method = build_method("taalm", {"combine_with": ("mixreview",)})
    method.part("mixreview").set_replay_records(REPLAY)
    method.attach_train_attention(phi)
    cfg = TrainerConfig(
        output_dir=str(tmp_path), epochs=1, lr=1e-3, batch_size=2, log_with=(), progress=False
    )
    trained: list[dict] = []
    ContinualTrainer(add_lora(tiny_llama(3), LORA), method, cfg).fit(_tasks(trained)[:1])
    assert len(phi_inputs) == len(trained) == 4
    for ids, rows in zip(phi_inputs, trained):
        assert ids.shape[0] == len(rows)  # phi weighs every row of the mixed batch
        n = len(rows) // 2
        assert (ids[n:, 1] == 2).all() and (ids[:n, 1] != 2).all()  # the replay rows included
    # and those weights enter the loss: L_w with phi's weights over the whole mixed batch
    batch = collate(trained[0])
    from cl_methods.taalm import deployment_weighted_loss

    model = add_lora(tiny_llama(3), LORA)
    model.eval()
    loss, out = method.forward_loss(batch, model)
    w = phi.token_weights(batch["input_ids"], batch["attention_mask"])
    expected = deployment_weighted_loss(out.logits, batch["input_ids"], batch["attention_mask"], w)
    torch.testing.assert_close(loss, expected)
    unweighted = deployment_weighted_loss(
        out.logits, batch["input_ids"], batch["attention_mask"], None
    )
    assert not torch.allclose(loss, unweighted)

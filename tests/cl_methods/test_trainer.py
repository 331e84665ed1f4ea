import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from cl_methods import (
    ContinualTrainer,
    DivergedError,
    Method,
    TrainerConfig,
    TrainTask,
    build_method,
)


class _Scalar(nn.Module):
    """loss = mean((w - y)^2) over the batch, so d loss / d w = 2 (w - mean(y))."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, input_ids=None, labels=None, **_):
        return SimpleNamespace(loss=((self.w - labels.float()) ** 2).mean())


def _collate(rows):
    y = torch.tensor(rows, dtype=torch.float32)
    return {"input_ids": y, "labels": y}


class _SGDPenalty(Method):
    """SGD with lr 1 and a penalty 10 * w, so one step moves w by -(task grad + 10)."""

    def configure_optimizer(self, params, default):
        return torch.optim.SGD(params, lr=1.0)

    def penalty(self, model):
        return 10.0 * model.w


def _cfg(tmp_path, **over):
    base = dict(
        output_dir=str(tmp_path),
        epochs=1,
        batch_size=4,
        max_grad_norm=0.0,
        progress=False,
        log_with=(),
        seed=1,
    )
    base.update(over)
    return TrainerConfig(**base)


@pytest.mark.parametrize(("batch", "accum"), [(4, 1), (2, 2), (1, 4)])
def test_penalty_is_added_once_per_step_not_divided(tmp_path, batch, accum):
    model = _Scalar()
    task = TrainTask("t", train=[1.0, 2.0, 3.0, 4.0], collate=_collate)
    cfg = _cfg(tmp_path, batch_size=batch, grad_accum=accum)
    ContinualTrainer(model, _SGDPenalty(), cfg).fit([task])
    # task grad at w=0: 2 * (0 - 2.5) = -5 ; penalty grad 10 -> w = -(-5 + 10) = -5
    assert model.w.item() == pytest.approx(-5.0)


class _NaNOnce(Method):
    def __init__(self, bad_steps):
        super().__init__()
        self.bad_steps, self.calls, self.applied = bad_steps, 0, []

    def configure_optimizer(self, params, default):
        return torch.optim.SGD(params, lr=0.1)

    def loss(self, batch, outputs, model):
        self.calls += 1
        return torch.tensor(float("nan")) if self.calls in self.bad_steps else None

    def after_optimizer_step(self, model, step):
        self.applied.append(step.applied)


def test_nonfinite_step_is_skipped_and_weights_unchanged(tmp_path):
    model = _Scalar()
    method = _NaNOnce(bad_steps={1})
    task = TrainTask("t", train=[1.0, 1.0, 1.0, 1.0], collate=_collate)
    ContinualTrainer(model, method, _cfg(tmp_path, batch_size=2)).fit([task])
    assert method.applied == [False, True]
    # only the second step moved w: w = 0 - 0.1 * 2 * (0 - 1)
    assert model.w.item() == pytest.approx(0.2)


def test_skipped_steps_are_counted_per_task_in_the_log_and_the_results(tmp_path):
    method = _NaNOnce(bad_steps={1, 2, 6})
    tasks = [TrainTask(n, train=[1.0] * 4, collate=_collate) for n in ("a", "b")]
    cfg = _cfg(tmp_path, batch_size=1, log_every=1)
    result = ContinualTrainer(_Scalar(), method, cfg).fit(tasks)
    assert [s["skipped_steps"] for s in result.train_stats] == [2, 1]
    lines = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [x["train/skipped"] for x in lines if "train/skipped" in x] == [1, 2, 2, 2, 0, 1, 1, 1]
    assert lines[0]["train/loss"] is None and lines[0]["nonfinite"] == ["train/loss"]
    saved = json.loads((tmp_path / "trainer_results.json").read_text())
    assert [s["skipped_steps"] for s in saved["train_stats"]] == [2, 1]


def test_the_default_stops_a_diverging_run_after_five_steps(tmp_path):
    method = _NaNOnce(bad_steps=set(range(1, 100)))
    task = TrainTask("t", train=[1.0] * 8, collate=_collate)
    with pytest.raises(DivergedError, match=r"5 optimizer steps in a row.*\(task 0 't', step 5"):
        ContinualTrainer(_Scalar(), method, _cfg(tmp_path, batch_size=1)).fit([task])


def test_abort_after_consecutive_nonfinite_steps(tmp_path):
    method = _NaNOnce(bad_steps=set(range(1, 100)))
    task = TrainTask("t", train=[1.0] * 8, collate=_collate)
    cfg = _cfg(tmp_path, batch_size=1, max_consecutive_nonfinite=3)
    with pytest.raises(DivergedError, match="diverged: 3 optimizer steps in a row"):
        ContinualTrainer(_Scalar(), method, cfg).fit([task])


def test_clear_errors_for_bad_streams(tmp_path):
    trainer = ContinualTrainer(_Scalar(), _SGDPenalty(), _cfg(tmp_path))
    with pytest.raises(ValueError, match="empty"):
        trainer.fit([])
    with pytest.raises(ValueError, match="unique"):
        trainer.fit([TrainTask("a", [1.0], _collate), TrainTask("a", [1.0], _collate)])
    with pytest.raises(ValueError, match="no collate"):
        trainer.fit([TrainTask("b", [1.0])])


def test_toy_stream_matrix_eval_future_and_baseline(toy, tmp_path):
    cfg = _cfg(tmp_path, epochs=1, lr=1e-3, eval_future=True, eval_before_training=True)
    trainer = ContinualTrainer(toy.tiny_t5(), build_method("olora"), cfg, evaluate=toy.evaluator(2))
    result = trainer.fit(toy.toy_tasks(n_train=8))
    assert result.task_names == ["colors", "animals"]
    assert all(v is not None for row in result.matrix for v in row)
    assert result.baseline is not None and len(result.baseline) == 2
    assert result.total[0][0] == 3
    saved = json.loads((tmp_path / "trainer_results.json").read_text())
    assert saved["matrix"] == result.matrix
    lines = (tmp_path / "predictions" / "after01_colors.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert {"after_task", "task", "prediction", "gold"} <= set(first)
    assert (tmp_path / "tasks" / "00_colors" / "adapter_model.safetensors").is_file()


def test_seen_tasks_only_by_default(toy, tmp_path):
    trainer = ContinualTrainer(
        toy.tiny_t5(), build_method("inclora"), _cfg(tmp_path, lr=1e-3), evaluate=toy.evaluator(2)
    )
    result = trainer.fit(toy.toy_tasks(n_train=4))
    assert result.matrix[0][1] is None and result.matrix[1][1] is not None


def test_mtl_trains_once_on_the_union(toy, tmp_path):
    trainer = ContinualTrainer(
        toy.tiny_t5(), build_method("mtl"), _cfg(tmp_path, lr=1e-3), evaluate=toy.evaluator(2)
    )
    result = trainer.fit(toy.toy_tasks(n_train=4))
    assert len(result.matrix) == 1 and None not in result.matrix[0]
    assert result.train_stats[0]["examples"] == 8


def test_seqft_learns_the_toy_stream(toy, tmp_path):
    cfg = _cfg(tmp_path, epochs=10, lr=1e-2, batch_size=8)
    trainer = ContinualTrainer(toy.tiny_t5(), build_method("seqft"), cfg, evaluate=toy.evaluator(6))
    result = trainer.fit(toy.toy_tasks(n_train=48)[:1])
    assert result.matrix[0][0] == 100.0


def test_bf16_and_tensorboard_logging(toy, tmp_path):
    cfg = _cfg(tmp_path, lr=1e-3, mixed_precision="bf16", log_with=("tensorboard",), log_every=1)
    trainer = ContinualTrainer(toy.tiny_t5(), build_method("olora"), cfg, evaluate=toy.evaluator(2))
    result = trainer.fit(toy.toy_tasks(n_train=4)[:1])
    assert result.matrix[0][0] is not None
    assert list(tmp_path.rglob("events.out.tfevents.*")), "no TensorBoard event file"
    log_lines = (tmp_path / "train_log.jsonl").read_text().splitlines()
    assert json.loads(log_lines[0])["train/loss"] > 0


def test_resume_refuses_a_different_run(toy, tmp_path):
    tasks = toy.toy_tasks(n_train=4)
    ContinualTrainer(toy.tiny_t5(), build_method("inclora"), _cfg(tmp_path)).fit(tasks[:1])
    other = ContinualTrainer(toy.tiny_t5(), build_method("olora"), _cfg(tmp_path))
    with pytest.raises(ValueError, match=r"cannot resume.*method \(saved 'inclora', now 'olora'\)"):
        other.fit(tasks[:1], resume=True)


class _CountingEval:
    """Scores a task by how many times it was evaluated; reports an extra value."""

    def __init__(self):
        self.calls = 0

    def __call__(self, model, task, accelerator):
        from cl_methods import TaskScore

        self.calls += 1
        return TaskScore(score=float(self.calls), extra={"nll": 10.0 - self.calls})


def test_epoch_evaluations_keep_extras(tmp_path):
    task = TrainTask("t", train=[1.0, 2.0], collate=_collate)
    cfg = _cfg(tmp_path, epochs=3, batch_size=2, eval_every_epoch=True, eval_before_training=True)
    result = ContinualTrainer(_Scalar(), _SGDPenalty(), cfg, evaluate=_CountingEval()).fit([task])
    epochs = [(e["task"], e["epoch"]) for e in result.epoch_scores]
    assert epochs == [(-1, 0), (0, 1), (0, 2), (0, 3)]
    assert result.epoch_scores[0]["scores"]["t"] == {"score": 1.0, "nll": 9.0}
    assert result.epoch_scores[-1]["scores"]["t"]["nll"] == 6.0
    assert result.baseline == [1.0] and result.matrix[0][0] == 5.0
    assert result.extra[0][0] == {"nll": 5.0}

"""Checkpoints: a resume from a task boundary reproduces the uninterrupted run bit for bit
(every RNG restored), the method's config is compared on resume, and nested state round-trips
through JSON + safetensors without pickle."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cl_methods import ContinualTrainer, TrainerCallback, TrainerConfig, build_method
from cl_methods.state_io import load_state, save_state
from cl_methods.trainer.checkpoint import optimizer_state, restore_optimizer, run_differences


class StopAtTaskEnd(TrainerCallback):
    class Stop(Exception):
        pass

    def __init__(self, task: int) -> None:
        self.task = task

    def on_task_end(self, view) -> None:
        if view.task == self.task:
            raise self.Stop


def _config(out, **over) -> TrainerConfig:
    base = dict(
        output_dir=str(out), epochs=2, lr=1e-2, batch_size=4, progress=False, log_with=(),
        seed=3, keep_checkpoints=10,
    )  # fmt: skip
    return TrainerConfig(**{**base, **over})


def _adapters(out) -> dict[str, torch.Tensor]:
    tensors = {}
    for folder in sorted((out / "tasks").iterdir()):
        for key, value in load_file(str(folder / "adapter_model.safetensors")).items():
            tensors[f"{folder.name}/{key}"] = value
    return tensors


def test_resume_from_a_task_boundary_is_bit_identical(toy, tmp_path):
    """Dropout 0.1 in the adapters and the T5 blocks: without the saved RNG states the second
    task draws other masks and its adapter differs."""
    tasks = toy.toy_tasks(n_train=12)
    full = ContinualTrainer(
        toy.tiny_t5(dropout=0.1), build_method("olora"), _config(tmp_path / "full"),
        evaluate=toy.evaluator(2),
    ).fit(tasks)  # fmt: skip

    cut = tmp_path / "cut"
    stop = StopAtTaskEnd(0)
    first = ContinualTrainer(
        toy.tiny_t5(dropout=0.1), build_method("olora"), _config(cut),
        evaluate=toy.evaluator(2), callbacks=[stop],
    )  # fmt: skip
    with pytest.raises(StopAtTaskEnd.Stop):
        first.fit(tasks)
    assert (cut / "checkpoints" / "latest").read_text().strip().endswith("t00-task_done")
    # the same base weights (frozen weights are not checkpointed: they never change) and the
    # global RNGs anywhere: the checkpoint restores them
    model = toy.tiny_t5(dropout=0.1)
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    resumed = ContinualTrainer(
        model, build_method("olora"), _config(cut),
        evaluate=toy.evaluator(2),
    ).fit(tasks, resume=True)  # fmt: skip
    assert resumed.matrix == full.matrix
    a, b = _adapters(tmp_path / "full"), _adapters(cut)
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_refuses_another_method_config_naming_the_keys(toy, tmp_path):
    tasks = toy.toy_tasks(n_train=4)[:1]
    cfg = _config(tmp_path, epochs=1)
    ContinualTrainer(toy.tiny_t5(), build_method("olora"), cfg).fit(tasks)
    saved = json.loads((tmp_path / "trainer_config.json").read_text())
    assert saved["method_config"]["lambda_1"] == 0.5  # the config is saved with the run
    other = build_method("olora", {"lambda_1": 0.1, "r": 4})
    with pytest.raises(ValueError, match=r"method_config\.lambda_1 \(saved 0\.5, now 0\.1\)"):
        ContinualTrainer(toy.tiny_t5(), other, cfg).fit(tasks, resume=True)
    try:
        ContinualTrainer(toy.tiny_t5(), other, cfg).fit(tasks, resume=True)
    except ValueError as err:
        assert "method_config.r (saved 8, now 4)" in str(err) and "\n" not in str(err)


def test_run_differences_lists_every_key_in_one_line():
    saved = {"seed": 1, "method": "olora", "method_config": {"r": 8, "targets": ["q", "v"]}}
    now = {"seed": 2, "method": "olora", "method_config": {"r": 8, "targets": ("q",)}}
    assert run_differences(saved, now) == (
        "seed (saved 1, now 2), method_config.targets (saved ['q', 'v'], now ['q'])"
    )
    assert run_differences(saved, {**saved, "method_config": {"r": 8, "targets": ("q", "v")}}) == ""


def test_nested_state_round_trips_without_pickle(tmp_path):
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generator": torch.Generator().manual_seed(5).get_state(),
        "ints": {0: torch.ones(2), 7: [1, (2, 3.5)], (1, "a"): None},
        "odd": [float("nan"), float("inf"), np.float32(1.5), {"__cl__": "not a tag"}],
        "bf16": torch.arange(4, dtype=torch.bfloat16),
        "shared": [torch.zeros(3)] * 2,
        "bigint": 2**80,
        "set": {3, 1},
    }
    save_state(tmp_path, "s", state)
    assert not list(tmp_path.glob("*.pt")) and (tmp_path / "s.safetensors").is_file()
    back = load_state(tmp_path, "s")
    random.setstate((back["python"][0], tuple(back["python"][1]), back["python"][2]))
    assert back["numpy"][0] == "MT19937" and np.array_equal(back["numpy"][1], state["numpy"][1])
    assert torch.equal(back["torch"], state["torch"])
    assert torch.equal(back["generator"], state["generator"])
    assert set(back["ints"]) == {0, 7, (1, "a")} and back["ints"][7] == [1, (2, 3.5)]
    assert np.isnan(back["odd"][0]) and back["odd"][1] == float("inf")
    assert back["odd"][2] == np.float32(1.5) and back["odd"][3] == {"__cl__": "not a tag"}
    assert back["bf16"].dtype == torch.bfloat16 and back["bigint"] == 2**80
    assert back["set"] == {1, 3}
    with pytest.raises(TypeError, match=r"s\.bad: a object cannot be saved"):
        save_state(tmp_path, "s", {"bad": object()})


def test_optimizer_state_by_name_rebuilds_the_groups():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    opt = torch.optim.AdamW([{"params": model[0].parameters()}], lr=0.1)
    opt.add_param_group({"params": list(model[1].parameters()), "lr": 0.01, "weight_decay": 0.5})
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    saved = optimizer_state(opt, model)
    assert saved["groups"][1]["params"] == ["1.weight", "1.bias"]
    # a differently grouped optimizer of the same class takes the saved groups and state
    other = torch.optim.AdamW(model.parameters(), lr=1.0)
    restore_optimizer(other, saved, model)
    assert [g["lr"] for g in other.param_groups] == [0.1, 0.01]
    assert torch.equal(
        other.state[model[1].weight]["exp_avg"], opt.state[model[1].weight]["exp_avg"]
    )
    with pytest.raises(ValueError, match="checkpoint optimizer is a AdamW"):
        restore_optimizer(torch.optim.SGD(model.parameters(), lr=1.0), saved, model)


def test_resume_mid_task_with_a_decaying_schedule_is_bit_identical(toy, tmp_path, faults):
    """The lr of the first step after a mid-task resume is the checkpoint's, not the start of
    the schedule's (a linear decay makes them differ)."""
    tasks = toy.toy_tasks(n_train=12)[:1]
    over = {"epochs": 3, "lr_scheduler": "linear", "checkpoint_every": 4}
    full = ContinualTrainer(toy.tiny_t5(), build_method("seqlora"), _config(tmp_path / "a", **over))
    full.fit(tasks)
    cut = tmp_path / "b"
    stop = faults.StopAfterCheckpoint(4)
    first = ContinualTrainer(
        toy.tiny_t5(), build_method("seqlora"), _config(cut, **over), callbacks=[stop]
    )
    with pytest.raises(faults.Interrupted):
        first.fit(tasks)
    resumed = ContinualTrainer(toy.tiny_t5(), build_method("seqlora"), _config(cut, **over))
    resumed.fit(tasks, resume=True)
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(a, b), name


def test_a_resume_does_not_log_the_replayed_steps_twice(toy, tmp_path, faults):
    """Killed inside the write of the checkpoint at step 4 (the one at step 2 stays latest):
    the resumed run trains steps 3-4 again; its train_log.jsonl and its TensorBoard scalars must
    equal the uninterrupted run's, not hold steps 3-4 twice."""
    tasks = toy.toy_tasks(n_train=12)
    settings = {"log_every": 1, "checkpoint_every": 2, "log_with": ("tensorboard",)}

    def trainer(out, callbacks=()):
        return ContinualTrainer(
            toy.tiny_t5(dropout=0.1), build_method("olora"), _config(out, **settings),
            evaluate=toy.evaluator(2), callbacks=callbacks,
        )  # fmt: skip

    trainer(tmp_path / "full").fit(tasks)
    cut = tmp_path / "cut"
    with pytest.raises(faults.Interrupted):
        trainer(cut, [faults.StopAfterCheckpoint(4, when="staged")]).fit(tasks)
    assert (cut / "checkpoints" / "latest").read_text().strip().startswith("ckpt-0000002")
    trainer(cut).fit(tasks, resume=True)
    logs = [(f / "train_log.jsonl").read_text().splitlines() for f in (tmp_path / "full", cut)]
    assert logs[0] == logs[1]
    steps = [json.loads(line)["step"] for line in logs[1] if "train/loss" in line]
    assert steps == sorted(set(steps))
    full_tb, cut_tb = _scalars(tmp_path / "full"), _scalars(cut)
    assert len(list(cut.rglob("events.out.tfevents.*"))) >= 2  # before the stop, after resume
    assert [k for k in cut_tb if k[0] == "train/loss"] and cut_tb == full_tb


def _scalars(folder):
    """(tag, step, value) of every scalar in the run's TensorBoard files, sorted."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    out = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    out.append((value.tag, event.step, value.simple_value))
                elif value.HasField("tensor") and value.tensor.float_val:
                    out.append((value.tag, event.step, value.tensor.float_val[0]))
    return sorted(out)

"""The teacher and EMA components: what they copy, what they freeze, how they average, and that
their state round-trips through a checkpoint (a resumed task gets the task-start teacher back)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cl_methods.state_io import load_state, save_state
from cl_methods.teacher import EMAModel, Teacher, ema_alpha


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_teacher_is_a_frozen_copy_of_the_task_start(tmp_path):
    model = _model()
    x = torch.randn(5, 3)
    teacher = Teacher()
    assert not teacher
    teacher.snapshot(model, task_index=2)
    model.eval()
    before = model(x).detach()
    with torch.no_grad():
        model[0].weight.add_(1.0)  # the student moves on
    assert torch.allclose(teacher(x), before)
    assert all(not p.requires_grad for p in teacher.model.parameters())
    assert not teacher.model.training and teacher(x).grad_fn is None
    # a checkpoint of the teacher, restored on a copy of the (changed) model's structure
    save_state(tmp_path, "teacher", teacher.state_dict())
    other = Teacher()
    other.load_state_dict(load_state(tmp_path, "teacher"))
    assert not other.restore(model, task_index=3)  # a teacher of another task: not reused
    other.load_state_dict(load_state(tmp_path, "teacher"))
    assert other.restore(model, task_index=2)
    assert torch.allclose(other(x), before)


def test_ema_averages_by_name_with_the_warm_up_rule():
    model = _model()
    ema = EMAModel(model)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert ema_alpha(0, 0.999) == 0.0 and ema_alpha(3, 0.999) == 0.75
    assert ema_alpha(10_000, 0.999) == 0.999
    ema.update(model, alpha=0.75)
    for name, p in ema.model.named_parameters():
        assert torch.allclose(p, 0.75 * start[name] + 0.25 * (start[name] + 1.0)), name
    assert torch.equal(ema.model[1].running_mean, model[1].running_mean)  # buffers copied
    with pytest.raises(ValueError, match="alpha"):
        ema.update(model, alpha=1.5)
    restored = EMAModel(_model(seed=1))
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 1
    for a, b in zip(restored.model.parameters(), ema.model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(KeyError, match="no counterpart"):
        ema.update(nn.Sequential(nn.Linear(3, 4)), alpha=0.5)

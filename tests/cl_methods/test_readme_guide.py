"""The method of cl-methods' README guide runs as written: registered from one file, trained on
two tiny tasks (EWC penalty, replay rows, the teacher's KD term), resumed mid-task exactly."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[2] / "packages" / "cl-methods" / "README.md"
TINY = Path(__file__).resolve().parents[1] / "cl_methods_classic" / "classic_tiny.py"


@pytest.fixture(scope="module")
def guide_module():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    code = next(b for b in blocks if '@register_method("my_method")' in b)
    module = types.ModuleType("readme_my_method")
    sys.modules[module.__name__] = module
    exec(compile(code, str(README), "exec"), module.__dict__)
    return module


def _setup(tiny, tmp_path, **over):
    from cl_methods import build_method

    options = {"ewc_lambda": 10.0, "replay": True, "replay_buffer_size": 8}
    method = build_method("my_method", options)
    return method, tiny.trainer(tiny.tiny_llama(), method, tmp_path, **over), tiny.tasks()


def test_the_guide_method_trains_and_resumes(
    guide_module, tmp_path, monkeypatch, faults, module_file
):
    tiny = module_file(TINY, "classic_tiny")
    method, trainer, stream = _setup(
        tiny, tmp_path / "full", checkpoint_every=1, keep_checkpoints=50
    )
    kd_terms = []
    original = type(method).loss

    def loss(self, batch, outputs, model):
        term = original(self, batch, outputs, model)
        kd_terms.append(term)
        return term

    monkeypatch.setattr(type(method), "loss", loss)
    trainer.fit(stream)
    monkeypatch.undo()
    assert method.teacher.task_index == 1 and method.ewc.tasks_done == 2
    assert 0 < len(method.replay.buffer) <= 8
    assert any(t is None for t in kd_terms) and any(t is not None and t > 0 for t in kd_terms)

    cut = tmp_path / "cut"
    _, trainer2, _ = _setup(tiny, cut, checkpoint_every=1, keep_checkpoints=50)
    trainer2.callbacks.append(faults.StopAfterCheckpoint(9))  # task 1, mid-task
    with pytest.raises(faults.Interrupted):
        trainer2.fit(stream)
    method3, trainer3, _ = _setup(tiny, cut, checkpoint_every=1, keep_checkpoints=50)
    trainer3.fit(stream, resume=True)
    for (name, a), b in zip(trainer.model.named_parameters(), trainer3.model.parameters()):
        assert torch.equal(a, b), name
    assert method3.teacher.task_index == 1

"""The method contract holds in the source: methods never reach into the trainer, the trainer
uses accelerate's public API only and holds no test hook, nothing probes undeclared capabilities,
and checkpoints are never unpickled."""

from __future__ import annotations

import re
from pathlib import Path

import cl_methods
from cl_methods import Method, RunInfo, TaskAwareModel, TaskContext

PACKAGE = Path(cl_methods.__file__).resolve().parent
REPO = PACKAGE.parents[3]
TRAINER = PACKAGE / "trainer"
# Evaluators return the trainer's result record (TaskScore); nothing else crosses over.
RESULT_IMPORT = re.compile(r"from \.+trainer\.results import TaskScore")


def _code(path: Path) -> str:
    """The file without its docstrings and comments (mentions in prose are fine)."""
    text = re.sub(r'"""[\s\S]*?"""', '""', path.read_text(encoding="utf-8"))
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _sources(root: Path, skip: Path | None = None) -> list[Path]:
    files = sorted(root.rglob("*.py"))
    return [p for p in files if skip is None or skip not in p.parents]


def test_no_method_reads_the_trainer():
    offenders = []
    pattern = re.compile(
        r"\bservices\b|\bContinualTrainer\b|from \.+trainer\b|import cl_methods\.trainer|"
        r"from cl_methods\.trainer\b|\btrainer\.config\b|\btrainer\.accelerator\b"
    )
    for path in _sources(PACKAGE, skip=TRAINER):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the package re-exports the trainer
        code = RESULT_IMPORT.sub("", _code(path))
        for n, line in enumerate(code.splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert not offenders, "methods must read TaskContext, not the trainer:\n" + "\n".join(offenders)


def test_capabilities_are_declared_not_probed():
    probe = re.compile(r"getattr\([^)]*[\"'](joint_training|begin_task|extra_epochs|bind_run)[\"']")
    offenders = []
    for root in (PACKAGE, REPO / "apps"):
        for path in _sources(root):
            code = _code(path)
            offenders += [f"{path}: {m.group(0)}" for m in probe.finditer(code)]
    assert not offenders, offenders
    assert Method.joint_training is False and Method().extra_epochs(3) == 0
    method = Method()
    run = RunInfo(num_tasks=2, task_names=("a", "b"), scenario="TIL")
    method.bind_run(run)
    assert method.run is run
    from cl_methods.classic import ClassifierModel

    assert issubclass(ClassifierModel, TaskAwareModel)
    fields = set(TaskContext.__dataclass_fields__)
    typed = {"batch_size", "grad_accum", "steps_per_epoch", "epochs", "world_size", "device"}
    assert typed <= fields
    assert "precision" in fields and "services" not in fields


def test_trainer_uses_public_accelerate_and_no_test_hook():
    code = "\n".join(_code(p) for p in _sources(TRAINER))
    for private in ("_optimizers", "_reset_state", "_models", "AcceleratorState", "os.kill"):
        assert private not in code, private
    assert "CL_TRAINER_KILL" not in "\n".join(p.read_text() for p in _sources(PACKAGE))


def test_nothing_is_unpickled():
    for path in _sources(PACKAGE):
        code = _code(path)
        assert "weights_only=False" not in code, path
        if TRAINER in path.parents:
            assert "torch.load" not in code and "pickle" not in code, path


def test_trainer_file_stays_short():
    lines = (TRAINER / "trainer.py").read_text().count("\n")
    assert lines <= 360, f"trainer.py has {lines} lines"


# ---- the contract at run time --------------------------------------------------------------------
def _scalar_task(name="t", n=4):
    import torch

    from cl_methods import TrainTask

    def collate(rows):
        y = torch.tensor(rows, dtype=torch.float32)
        return {"input_ids": y, "labels": y}

    return TrainTask(name, [1.0] * n, collate)


class _Scalar(TaskAwareModel):
    def __init__(self):
        import torch

        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.begun: list[int] = []

    def begin_task(self, index: int) -> None:
        self.begun.append(index)

    def forward(self, input_ids=None, labels=None):
        from types import SimpleNamespace

        return SimpleNamespace(loss=((self.w - labels) ** 2).mean())


class _Recorder(Method):
    """Records what the trainer tells it; one extra epoch on task 1."""

    def __init__(self):
        super().__init__()
        self.contexts: list[TaskContext] = []

    def extra_epochs(self, task_index: int) -> int:
        return 1 if task_index == 1 else 0

    def on_task_start(self, task, model):
        super().on_task_start(task, model)
        self.contexts.append(task)


def _trainer(tmp_path, method, model=None, **over):
    from cl_methods import ContinualTrainer, TrainerConfig

    cfg = dict(output_dir=str(tmp_path), batch_size=2, grad_accum=2, epochs=1, progress=False)
    cfg.update(log_with=(), max_grad_norm=0.0, **over)
    return ContinualTrainer(model or _Scalar(), method, TrainerConfig(**cfg), **{})


def test_task_context_is_typed_and_capabilities_are_honoured(tmp_path):
    method, model = _Recorder(), _Scalar()
    result = _trainer(tmp_path, method, model).fit([_scalar_task("a"), _scalar_task("b", 8)])
    first, second = method.contexts
    assert (first.batch_size, first.grad_accum, first.world_size, first.rank) == (2, 2, 1, 0)
    assert first.steps_per_epoch == 1 and first.epochs == 1 and first.total_steps == 1
    assert second.epochs == 2 and second.steps_per_epoch == 2 and second.total_steps == 4
    assert [s["epochs"] for s in result.train_stats] == [1, 2]  # extra_epochs added by the trainer
    assert str(first.device) == "cpu" and first.precision == "no" and first.compute_loss
    assert model.begun == [0, 1]  # the declared model hook
    assert method.run == RunInfo(num_tasks=2, task_names=("a", "b"))  # bound by the trainer


def test_a_method_bound_to_another_stream_is_refused(tmp_path):
    import pytest

    method = _Recorder()
    method.bind_run(RunInfo(num_tasks=1, task_names=("x",)))
    with pytest.raises(ValueError, match=r"bound to tasks \('x',\), fit got \['a'\]"):
        _trainer(tmp_path, method).fit([_scalar_task("a")])


def test_peft_takes_unset_values_from_the_run():
    from cl_methods import build_method

    method = build_method("peft", {"adapter": "prompt_tuning"})
    assert method.config.il_mode is None and method.config.num_tasks == 0
    vocab = ["[PAD]", "[UNK]", "classify", "the", "topic", "of", "this", "sentence", ":"]

    class Tok:
        def __call__(self, text, add_special_tokens=False):
            return {
                "input_ids": [
                    vocab.index(w) if w in vocab else 1
                    for w in text.lower().replace(":", " :").split()
                ]
            }

    method.bind_run(
        RunInfo(3, ("a", "b", "c"), scenario="TIL", tokenizer=Tok(), data_family="topic")
    )
    cfg = method.config
    assert (cfg.il_mode, cfg.num_tasks) == ("TIL", 3)
    assert cfg.prompt_init_ids == (2, 3, 4, 5, 6, 7, 8)  # "Classify the topic of this sentence:"
    given = build_method("peft", {"il_mode": "CIL", "num_tasks": 5})
    given.bind_run(RunInfo(3, ("a", "b", "c"), scenario="TIL"))
    assert (given.config.il_mode, given.config.num_tasks) == ("CIL", 5)  # the config wins


def test_callbacks_see_the_position_in_order(tmp_path):
    from cl_methods import TrainerCallback

    seen = []

    class Watch(TrainerCallback):
        def on_run_start(self, view):
            seen.append(("run_start", view.status))

        def on_task_start(self, view):
            seen.append(("task_start", view.task))

        def on_step_end(self, view):
            seen.append(("step", view.global_step, view.applied))

        def on_checkpoint_staged(self, view):
            seen.append(("staged", view.checkpoint.name.startswith(".tmp-")))

        def on_checkpoint_saved(self, view):
            seen.append(("saved", view.checkpoint.name))

        def on_task_end(self, view):
            seen.append(("task_end", view.task, view.status))

        def on_run_end(self, view):
            seen.append(("run_end",))

    trainer = _trainer(tmp_path, Method(), checkpoint_every=1)
    trainer.callbacks.append(Watch())
    trainer.fit([_scalar_task("a")])
    assert seen == [
        ("run_start", "start"),
        ("task_start", 0),
        ("staged", True),
        ("saved", "ckpt-0000001-t00-in_task"),
        ("step", 1, True),
        ("staged", True),
        ("saved", "ckpt-0000001-t00-task_done"),
        ("task_end", 0, "task_done"),
        ("run_end",),
    ]
    import dataclasses

    import pytest

    with pytest.raises(dataclasses.FrozenInstanceError):
        trainer.view().global_step = 0  # read-only


def test_unsupported_distributed_modes_are_refused_naming_the_supported_ones(monkeypatch):
    from types import SimpleNamespace

    import pytest
    from accelerate.utils import DistributedType

    from cl_methods.trainer.distributed import check_supported

    for ok in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
        check_supported(SimpleNamespace(distributed_type=ok))
    for kind, why in ((DistributedType.FSDP, "FSDP"), (DistributedType.DEEPSPEED, "DeepSpeed")):
        with pytest.raises(
            ValueError,
            match=rf"does not support {kind.value}: .*{why}.*supported: one process .* DDP",
        ):
            check_supported(SimpleNamespace(distributed_type=kind))
    # accelerate launch --use_fsdp without a GPU: accelerate runs one plain process, we refuse
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ValueError, match="does not support FSDP"):
        check_supported(SimpleNamespace(distributed_type=DistributedType.NO))

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

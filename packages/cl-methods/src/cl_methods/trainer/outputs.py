"""What a run writes besides checkpoints: the run's configuration, the results, the prediction
files and the step log (``train_log.jsonl``, an accelerate tracker beside TensorBoard/wandb).

All of it is written by the main process only, each file atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from accelerate.tracking import GeneralTracker

from .. import jsonsafe
from ..state_io import plain
from .checkpoint import write_json_atomic
from .results import ContinualResult, TaskScore
from .tb_trim import trim_event_files


class JsonlTracker(GeneralTracker):
    """``train_log.jsonl``: one JSON object per logged step (``{"step": s, **values}``)."""

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, logging_dir: str | Path) -> None:
        super().__init__()
        self.path = Path(logging_dir) / "train_log.jsonl"

    @property
    def tracker(self) -> Path:
        return self.path

    def store_init_configuration(self, values: dict) -> None:
        """The configuration is in ``trainer_config.json``; nothing to add here."""

    def log(self, values: dict, step: int | None = None, **kwargs: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"step": step, **values}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(jsonsafe.dumps(line) + "\n")


class RunOutputs:
    """The files of a run in ``output_dir`` (written only when ``is_main``)."""

    def __init__(self, output_dir: Path, is_main: bool) -> None:
        self.root = Path(output_dir)
        self.is_main = is_main

    def write_config(
        self, trainer: dict[str, Any], method: str, method_config: dict, tasks
    ) -> None:
        if self.is_main:
            self.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(
                self.root / "trainer_config.json",
                {
                    "trainer": plain(trainer),
                    "method": method,
                    "method_config": plain(method_config),
                    "tasks": list(tasks),
                },
            )

    def trim_after(self, step: int) -> None:
        """Drop what was logged after global step ``step`` (a resume from the checkpoint of that
        step logs those steps again): ``train_log.jsonl`` lines and TensorBoard events."""
        self.trim_log(step)
        if self.is_main:
            trim_event_files(self.root, step)

    def trim_log(self, step: int) -> None:
        """Drop the ``train_log.jsonl`` lines logged after global step ``step`` (a resumed run
        logs them again; the checkpoint it resumes from was written at ``step``)."""
        path = self.root / "train_log.jsonl"
        if not self.is_main or not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                logged = json.loads(line).get("step")
            except (json.JSONDecodeError, AttributeError):
                continue  # a line cut by the interruption
            if logged is None or logged <= step:
                kept.append(line + "\n")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        tmp.replace(path)

    def write_results(self, result: ContinualResult) -> None:
        if self.is_main:
            write_json_atomic(self.root / "trainer_results.json", result.to_dict())

    def write_predictions(self, row: int, after: str, task: str, score: TaskScore) -> None:
        """``predictions/after<row>_<task>.jsonl`` (the cl-eval prediction format)."""
        if not self.is_main or not score.predictions:
            return
        folder = self.root / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"after{row:02d}_{task}.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for pred in score.predictions:
                line = {"after_task": row, "after_task_name": after, "task": task, **pred}
                fh.write(jsonsafe.dumps(line, ensure_ascii=False) + "\n")
        tmp.replace(path)

    def task_folder(self, index: int, name: str) -> Path:
        """Where :meth:`Method.export_task` writes task ``index``'s artefacts."""
        return self.root / "tasks" / f"{index:02d}_{name}"


def tracker_config(trainer: dict[str, Any], method: str, method_config: dict[str, Any]) -> dict:
    """The run's settings flattened for the trackers' hyperparameter tables."""
    flat: dict[str, Any] = {"method": method}
    for prefix, values in (("trainer", trainer), ("method", method_config)):
        for key, value in values.items():
            if isinstance(value, (int, float, str, bool)):
                flat[f"{prefix}.{key}"] = value
            elif value is not None:
                flat[f"{prefix}.{key}"] = str(value)
    return flat

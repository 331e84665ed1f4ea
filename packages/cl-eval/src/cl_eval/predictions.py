"""Per-example prediction files (JSONL) and rebuilding ``R`` from them.

One JSON object per line:

- ``after_task`` (required): the last trained task, as its 0-based position in the stream or its
  name; ``-1`` is the model before any training (the baseline row ``b_j``).
- ``task`` (required): the name of the evaluated task.
- ``prediction``, ``gold`` (required): the model's decoded answer and the reference (strings;
  integers such as class ids are compared as their decimal strings).
- ``split`` (optional): ``"test"`` (default) fills ``R``; ``"train"`` fills ``R_train``.
- ``correct`` (optional): ``true``/``false`` to give the verdict of another scorer (argmax
  classification, say); it then replaces exact match for that line.
- ``id`` (optional): an example id; the same id twice in one cell is an error (a file passed
  twice). Other keys are ignored.

Rebuilding: each line counts one example of cell ``(after_task, task)`` of its split;
``R[i][j] = scale * correct / total`` with ``correct`` from exact match under the chosen
normalisation (or the line's ``correct``). Every cell keeps its counts, so the micro AP is
available. The task order is ``tasks`` when given; otherwise, when every ``after_task`` is a
number, the order in which tasks first appear reading the rows in increasing ``after_task``
(file and line order within a row), and when names are used, the order in which those names
first appear as ``after_task``, followed by tasks only ever evaluated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_eval.atomic import atomic_write_text
from cl_eval.errors import EvalInputError, read_text_file
from cl_eval.matrix import AccuracyMatrix
from cl_eval.scores import NormaliseMode, exact_match

SPLITS = ("test", "train")
BASELINE_ROW = -1


@dataclass(frozen=True)
class PredictionRecord:
    """One line of a prediction file, with where it came from."""

    after_task: int | str
    task: str
    prediction: str
    gold: str
    split: str = "test"
    correct: bool | None = None
    id: Any = None
    path: str = ""
    line: int = 0


def _text(value: Any, key: str, path: str, line: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise EvalInputError(f"{key!r} must be a string, got {value!r}", path, line)


def _parse(obj: Any, path: str, line: int) -> PredictionRecord:
    if not isinstance(obj, dict):
        raise EvalInputError("each line must be a JSON object", path, line)
    missing = [k for k in ("after_task", "task", "prediction", "gold") if k not in obj]
    if missing:
        raise EvalInputError(f"missing key(s) {', '.join(missing)}", path, line)
    after = obj["after_task"]
    if isinstance(after, bool) or not isinstance(after, int | str):
        raise EvalInputError(
            f"'after_task' must be an integer or a task name: {after!r}", path, line
        )
    if isinstance(after, int) and after < BASELINE_ROW:
        raise EvalInputError(f"'after_task' must be >= -1, got {after}", path, line)
    task = obj["task"]
    if not isinstance(task, str) or not task:
        raise EvalInputError(f"'task' must be a non-empty string, got {task!r}", path, line)
    split = obj.get("split", "test")
    if split not in SPLITS:
        raise EvalInputError(f"'split' must be one of {SPLITS}, got {split!r}", path, line)
    if split == "train" and after == BASELINE_ROW:
        raise EvalInputError("the baseline row (after_task -1) has no train split", path, line)
    correct = obj.get("correct")
    if correct is not None and not isinstance(correct, bool):
        raise EvalInputError(f"'correct' must be true or false, got {correct!r}", path, line)
    return PredictionRecord(
        after_task=after,
        task=task,
        prediction=_text(obj["prediction"], "prediction", path, line),
        gold=_text(obj["gold"], "gold", path, line),
        split=split,
        correct=correct,
        id=obj.get("id"),
        path=path,
        line=line,
    )


def read_predictions(path: str | os.PathLike[str]) -> list[PredictionRecord]:
    """Read and check one prediction file; errors name the file and the 1-based line."""
    where = str(path)
    text = read_text_file(Path(path), "prediction file")
    records = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise EvalInputError(f"invalid JSON: {err.msg}", where, number) from None
        records.append(_parse(obj, where, number))
    return records


def write_predictions(
    path: str | os.PathLike[str],
    after_task: int | str,
    task: str,
    predictions: Sequence[str],
    golds: Sequence[str],
    *,
    ids: Sequence[Any] | None = None,
    split: str = "test",
    correct: Sequence[bool] | None = None,
) -> Path:
    """Write one cell's predictions as a JSONL file (atomically) in the format above."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} golds")
    for name, seq in (("ids", ids), ("correct", correct)):
        if seq is not None and len(seq) != len(golds):
            raise ValueError(f"{len(seq)} {name} for {len(golds)} examples")
    lines = []
    for k, (pred, gold) in enumerate(zip(predictions, golds)):
        obj: dict[str, Any] = {"after_task": after_task, "task": task}
        if ids is not None:
            obj["id"] = ids[k]
        obj.update(prediction=pred, gold=gold)
        if split != "test":
            obj["split"] = split
        if correct is not None:
            obj["correct"] = bool(correct[k])
        _parse(json.loads(json.dumps(obj)), str(path), k + 1)  # same checks as the reader
        lines.append(json.dumps(obj, ensure_ascii=False))
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


def _infer_tasks(records: list[PredictionRecord]) -> list[str]:
    order: list[str] = []
    if all(isinstance(r.after_task, int) for r in records):
        for r in sorted(records, key=lambda r: r.after_task):
            if r.task not in order:
                order.append(r.task)
        return order
    for r in records:
        if isinstance(r.after_task, str) and r.after_task not in order:
            order.append(r.after_task)
    order += [t for t in dict.fromkeys(r.task for r in records) if t not in order]
    return order


def matrix_from_predictions(
    paths: Iterable[str | os.PathLike[str]],
    *,
    tasks: Sequence[str] | None = None,
    normalise: NormaliseMode = "default",
    strip_tokens: Iterable[str] = (),
    scale: float = 100.0,
) -> AccuracyMatrix:
    """Rebuild ``R`` (with counts, baseline and ``R_train`` when present) from prediction files."""
    records = [r for p in paths for r in read_predictions(p)]
    if not records:
        raise EvalInputError("no prediction records in the given files")
    matrix = AccuracyMatrix(tasks if tasks is not None else _infer_tasks(records), scale=scale)
    tokens = tuple(strip_tokens)
    counts: dict[tuple[str, int, int], list[int]] = {}
    seen_ids: set[tuple[str, int, int, str]] = set()
    for r in records:
        try:
            i = BASELINE_ROW if r.after_task == BASELINE_ROW else matrix.task_index(r.after_task)
            j = matrix.task_index(r.task)
        except EvalInputError as err:
            raise EvalInputError(str(err), r.path, r.line) from None
        if r.id is not None:
            key = (r.split, i, j, json.dumps(r.id, sort_keys=True))
            if key in seen_ids:
                raise EvalInputError(
                    f"id {r.id!r} appears twice for after_task {r.after_task!r}, task {r.task!r} "
                    "(the same file given twice?)",
                    r.path,
                    r.line,
                )
            seen_ids.add(key)
        ok = r.correct
        if ok is None:
            ok = exact_match(r.prediction, r.gold, normalise=normalise, strip_tokens=tokens)
        cell = counts.setdefault((r.split, i, j), [0, 0])
        cell[0] += int(ok)
        cell[1] += 1
    for (split, i, j), (correct, total) in sorted(counts.items()):
        if i == BASELINE_ROW:
            matrix.record_baseline(j, correct=correct, total=total)
        elif split == "train":
            matrix.record_train(i, j, correct=correct, total=total)
        else:
            matrix.record(i, j, correct=correct, total=total)
    return matrix

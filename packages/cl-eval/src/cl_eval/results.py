"""A run's results: the matrix, every metric, and the context needed to trust them.

``write_results`` writes one JSON file (atomically); ``read_results`` loads it back and checks it.
The JSON holds: ``format``/``format_version``, ``name``, ``created``, the matrix fields of
:meth:`AccuracyMatrix.to_dict` at top level (``tasks``, ``scale``, ``matrix``, ``counts``,
``baseline``, ``baseline_counts``, ``train_matrix``, ``train_counts``), ``per_task``,
``metrics``, ``forgetting_variant``, ``config``, ``versions``, ``hardware``, ``predictions``
(paths of prediction files, relative to the JSON's folder when inside it) and ``extra``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cl_eval.atomic import atomic_write_text
from cl_eval.environment import hardware_info, software_versions
from cl_eval.errors import EvalInputError, read_text_file
from cl_eval.matrix import AccuracyMatrix
from cl_eval.metrics import FORGETTING_VARIANTS, ForgettingVariant, compute_metrics, per_task_scores

RESULTS_FORMAT = "cl-eval/results"
RESULTS_FORMAT_VERSION = 1
PathLike = str | os.PathLike[str]


@dataclass
class Results:
    """Everything one run reports. ``source`` is the file it was read from, if any."""

    matrix: AccuracyMatrix
    metrics: dict[str, float | None] = field(default_factory=dict)
    forgetting_variant: ForgettingVariant = "standard"
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    predictions: list[str] = field(default_factory=list)
    name: str | None = None
    created: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)

    def recompute(self) -> dict[str, float | None]:
        """The metrics recomputed from the matrix (the stored ``metrics`` are left untouched)."""
        return compute_metrics(self.matrix, forgetting_variant=self.forgetting_variant)

    def prediction_files(self) -> list[Path]:
        """The prediction file paths, relative ones resolved against the JSON's folder."""
        base = self.source.parent if self.source is not None else Path.cwd()
        return [p if (p := Path(raw)).is_absolute() else base / p for raw in self.predictions]

    @property
    def label(self) -> str:
        """A short name for tables: ``name``, else the file stem, else ``"run"``."""
        if self.name:
            return self.name
        return self.source.stem if self.source is not None else "run"


def make_results(
    matrix: AccuracyMatrix,
    *,
    config: Mapping[str, Any] | Any = None,
    hardware: Mapping[str, Any] | None = None,
    predictions: Sequence[PathLike] = (),
    name: str | None = None,
    forgetting_variant: ForgettingVariant = "standard",
    extra: Mapping[str, Any] | None = None,
    detect_hardware: bool = True,
    probe_gpu: bool = False,
) -> Results:
    """Compute every metric and gather versions and hardware for ``matrix``.

    ``config`` may be a mapping or a dataclass (it is converted to JSON-ready values).
    ``hardware`` holds what the caller knows (``gpu_count``, ``global_batch``, ...); with
    ``detect_hardware`` it is merged over the detected host facts.
    """
    if forgetting_variant not in FORGETTING_VARIANTS:
        raise ValueError(f"forgetting_variant must be one of {FORGETTING_VARIANTS}")
    hw = hardware_info(hardware, probe_gpu=probe_gpu) if detect_hardware else dict(hardware or {})
    return Results(
        matrix=matrix,
        metrics=compute_metrics(matrix, forgetting_variant=forgetting_variant),
        forgetting_variant=forgetting_variant,
        config=to_jsonable(config) if config is not None else {},
        versions=software_versions(),
        hardware=to_jsonable(hw),
        predictions=[str(p) for p in predictions],
        name=name,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        extra=to_jsonable(dict(extra or {})),
    )


def to_jsonable(value: Any) -> Any:
    """Convert configs and the like to JSON values: dataclasses and mappings to dicts, paths to
    strings, tuples and sets to lists, NumPy scalars to numbers, non-finite floats to strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return [to_jsonable(v) for v in sorted(value, key=repr)]
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # NumPy scalars and 0-d arrays
    if callable(item):
        try:
            return to_jsonable(item())
        except (TypeError, ValueError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return to_jsonable(tolist())
    return str(value)


def _stored_path(raw: PathLike, folder: Path) -> str:
    path = Path(raw).resolve()
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def results_to_dict(results: Results, folder: Path | None = None) -> dict[str, Any]:
    """The JSON-ready dict of ``results``; prediction paths under ``folder`` become relative."""
    predictions = list(results.predictions)
    if folder is not None:
        predictions = [_stored_path(p, folder.resolve()) for p in predictions]
    out: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "format_version": RESULTS_FORMAT_VERSION,
        "name": results.name,
        "created": results.created,
    }
    out.update(results.matrix.to_dict())
    out["per_task"] = per_task_scores(results.matrix)
    out["metrics"] = dict(results.metrics)
    out["forgetting_variant"] = results.forgetting_variant
    out["config"] = to_jsonable(results.config)
    out["versions"] = dict(results.versions)
    out["hardware"] = to_jsonable(results.hardware)
    out["predictions"] = predictions
    out["extra"] = to_jsonable(results.extra)
    return out


def results_from_dict(data: Mapping[str, Any], source: PathLike | None = None) -> Results:
    """Inverse of :func:`results_to_dict`. Only ``tasks`` and ``matrix`` are required."""
    where = None if source is None else str(source)
    if not isinstance(data, Mapping):
        raise EvalInputError("a results file must hold a JSON object", where)
    fmt = data.get("format", RESULTS_FORMAT)
    if fmt != RESULTS_FORMAT:
        raise EvalInputError(f"format is {fmt!r}, expected {RESULTS_FORMAT!r}", where)
    version = data.get("format_version", RESULTS_FORMAT_VERSION)
    if not isinstance(version, int) or version > RESULTS_FORMAT_VERSION:
        raise EvalInputError(
            f"format_version {version!r} is newer than this cl-eval reads "
            f"({RESULTS_FORMAT_VERSION}); upgrade cl-eval",
            where,
        )
    variant = data.get("forgetting_variant", "standard")
    if variant not in FORGETTING_VARIANTS:
        raise EvalInputError(f"forgetting_variant must be one of {FORGETTING_VARIANTS}", where)
    sections: dict[str, Any] = {}
    for key, kind in (
        ("metrics", dict),
        ("config", dict),
        ("versions", dict),
        ("hardware", dict),
        ("extra", dict),
        ("predictions", list),
    ):
        value = data.get(key)
        if value is None:
            value = kind()
        if not isinstance(value, kind):
            raise EvalInputError(f"{key!r} must be a JSON {kind.__name__}", where)
        sections[key] = value
    return Results(
        matrix=AccuracyMatrix.from_dict(data, source=where),
        forgetting_variant=variant,
        name=data.get("name"),
        created=data.get("created"),
        source=None if source is None else Path(source),
        **sections,
    )


def _dumps(value: Any, level: int = 0) -> str:
    """JSON with two-space indents, except that lists of plain values (matrix rows) stay on one
    line, so a matrix reads as a grid."""
    inner = "  " * (level + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {_dumps(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = [inner + _dumps(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def write_results(results: Results, path: PathLike) -> Path:
    """Write ``results`` as JSON to ``path`` atomically; returns the path."""
    target = Path(path)
    data = results_to_dict(results, folder=target.parent)
    text = _dumps(data) + "\n"
    return atomic_write_text(target, text)


def read_results(path: PathLike) -> Results:
    """Load a results JSON written by :func:`write_results` (or a hand-written minimal one)."""
    target = Path(path)
    text = read_text_file(target, "results file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise EvalInputError(f"invalid JSON: {err.msg}", target, err.lineno) from None
    if not isinstance(data, dict):
        raise EvalInputError(f"expected a JSON object, found {type(data).__name__}", target)
    return results_from_dict(data, source=target)

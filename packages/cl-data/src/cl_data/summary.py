"""Inspect a benchmark folder without failing on the first problem: sizes, labels, problems.

Works on the CL-benchmark layout (`<TaskType>/<dataset>/{train,dev,test}.json + labels.json`), the
long-sequence layout (`{train,dev,test}/<task>.json`) and on an in-memory TaskStream (synthetic).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from cl_data import jsonio
from cl_data.benchmark import DATASETS, read_labels, read_rows
from cl_data.errors import DataError
from cl_data.long_sequence import LONG_SEQUENCE_TASKS, MISSING_TESTS, read_records
from cl_data.prompts import TASK_TYPES
from cl_data.task import SPLITS, TaskStream

Severity = Literal["error", "note"]


@dataclass
class Problem:
    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity:<5}  {self.where}: {self.message}"


@dataclass
class DatasetSummary:
    name: str
    task_type: str
    labels: list[str]
    sizes: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Summary:
    root: str
    layout: str
    datasets: list[DatasetSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def to_dict(self) -> dict:
        return asdict(self)

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(jsonio.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")

    def format(self) -> str:
        lines = [f"{self.layout} at {self.root}: {len(self.datasets)} tasks", ""]
        width = max([len(d.name) for d in self.datasets] + [7])
        lines.append(f"{'task':<{width}}  {'type':<8}" + "".join(f"{s:>7}" for s in SPLITS))
        for d in self.datasets:
            sizes = "".join(f"{d.sizes.get(s, '-')!s:>7}" for s in SPLITS)
            lines.append(f"{d.name:<{width}}  {d.task_type:<8}{sizes}  labels: {len(d.labels)}")
        lines += ["", "Label counts:"]
        for d in self.datasets:
            for split, counts in d.label_counts.items():
                text = ", ".join(f"{label} {n}" for label, n in counts.items())
                lines.append(f"  {d.name} {split}: {text}")
        notes = len(self.problems) - len(self.errors)
        lines += ["", f"Problems: {len(self.errors)} errors, {notes} notes"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def _ordered_counts(labels: list[str], counter: Counter[str]) -> dict[str, int]:
    out = {label: counter.get(label, 0) for label in labels}
    out.update({label: n for label, n in counter.items() if label not in out})
    return out


def _scan_dataset(folder: Path, name: str, kind: str, summary: Summary) -> None:
    where = f"{kind}/{name}"
    labels: list[str] = []
    try:
        labels = list(read_labels(folder / "labels.json"))
    except DataError as err:
        summary.problems.append(Problem("error", where, str(err)))
    info = DatasetSummary(name, kind, labels)
    summary.datasets.append(info)
    for split in SPLITS:
        path = folder / f"{split}.json"
        try:
            rows = read_rows(path)
        except DataError as err:
            summary.problems.append(Problem("error", where, str(err)))
            continue
        counter = Counter(label for _, label in rows)
        info.sizes[split] = len(rows)
        info.label_counts[split] = _ordered_counts(labels, counter)
        if not rows:
            summary.problems.append(Problem("note", f"{where}/{split}.json", "no examples"))
        outside = {label: n for label, n in counter.items() if labels and label not in labels}
        if outside:
            first = next(i for i, (_, label) in enumerate(rows) if label in outside)
            text = ", ".join(f"{n} x {label!r}" for label, n in outside.items())
            if split == "train":
                message = f"labels outside labels.json: {text} (first at row {first})"
                summary.problems.append(Problem("error", f"{where}/{split}.json", message))
            else:
                message = (
                    f"{text} not in labels.json (first at row {first}); kept by default and "
                    "scored as errors, --drop-unlabelled drops them"
                )
                summary.problems.append(Problem("note", f"{where}/{split}.json", message))
    dev, test = folder / "dev.json", folder / "test.json"
    if dev.is_file() and test.is_file() and dev.read_bytes() == test.read_bytes():
        message = "dev.json is identical to test.json (no separate validation set)"
        summary.problems.append(Problem("note", where, message))


def summarize_benchmark(root: str | Path) -> Summary:
    """Summary of a CL-benchmark folder; problems are collected, not raised."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("benchmark directory not found", root)
    summary = Summary(str(root), "CL_Benchmark")
    found: set[str] = set()
    for type_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        kind = type_dir.name
        if kind not in TASK_TYPES:
            message = f"unknown task type folder (known: {', '.join(TASK_TYPES)}); skipped"
            summary.problems.append(Problem("error", kind, message))
            continue
        for folder in sorted(p for p in type_dir.iterdir() if p.is_dir()):
            name = folder.name
            found.add(name)
            if name in DATASETS and DATASETS[name] != kind:
                message = f"dataset belongs under {DATASETS[name]}, not {kind}"
                summary.problems.append(Problem("error", f"{kind}/{name}", message))
            elif name not in DATASETS:
                message = "not one of the 15 benchmark datasets (load it with task_type=...)"
                summary.problems.append(Problem("note", f"{kind}/{name}", message))
            _scan_dataset(folder, name, kind, summary)
    for name, kind in DATASETS.items():
        if name not in found:
            summary.problems.append(Problem("error", f"{kind}/{name}", "dataset folder missing"))
    return summary


def summarize_instruct(root: str | Path) -> Summary:
    """Summary of a long-sequence folder (`{train,dev,test}/<task>.json`)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("long-sequence directory not found", root)
    summary = Summary(str(root), "long_sequence_instruct")
    names = sorted({p.stem for split in SPLITS for p in (root / split).glob("*.json")})
    for name in [n for n in LONG_SEQUENCE_TASKS if n not in names]:
        summary.problems.append(Problem("error", name, "task missing from every split"))
    for name in names:
        kind = LONG_SEQUENCE_TASKS.get(name, "?")
        if kind == "?":
            summary.problems.append(Problem("note", name, "not one of the 15 benchmark tasks"))
        info = DatasetSummary(name, kind, [])
        summary.datasets.append(info)
        for split in SPLITS:
            path = root / split / f"{name}.json"
            if not path.exists():
                known_gap = split == "test" and name in MISSING_TESTS
                severity: Severity = "note" if known_gap else "error"
                message = "absent (as in the released copy)" if known_gap else "absent"
                summary.problems.append(Problem(severity, f"{split}/{name}.json", message))
                continue
            try:
                examples = read_records(path, name)
            except DataError as err:
                summary.problems.append(Problem("error", f"{split}/{name}.json", str(err)))
                continue
            counter = Counter(ex.label for ex in examples)
            if split == "train":
                info.labels = list(dict.fromkeys(ex.label for ex in examples))
            info.sizes[split] = len(examples)
            info.label_counts[split] = _ordered_counts(info.labels, counter)
            unseen = [label for label in counter if info.labels and label not in info.labels]
            if split != "train" and unseen:
                message = f"outputs never seen in train: {unseen}"
                summary.problems.append(Problem("note", f"{split}/{name}.json", message))
    return summary


def summarize_stream(stream: TaskStream) -> Summary:
    """Summary of tasks already in memory (e.g. the synthetic benchmark)."""
    summary = Summary(stream.name or "stream", "task stream")
    for task in stream:
        info = DatasetSummary(task.name, task.task_type, list(task.labels))
        for split in SPLITS:
            info.sizes[split] = len(task.split(split))
            info.label_counts[split] = task.label_counts(split)
        summary.datasets.append(info)
    return summary


def detect_layout(root: str | Path) -> str:
    """ "instruct" when `root` holds a `train/` folder of task files, else "benchmark"."""
    return "instruct" if (Path(root) / "train").is_dir() else "benchmark"


def summarize(root: str | Path) -> Summary:
    """Summary of a benchmark folder of either layout."""
    if detect_layout(root) == "instruct":
        return summarize_instruct(root)
    return summarize_benchmark(root)

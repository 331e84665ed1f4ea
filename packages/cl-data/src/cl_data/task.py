"""Records: one example, one task (train/dev/test), and an ordered stream of tasks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from cl_data.prompts import alpaca_prompt, benchmark_prompt, instruct_source

if TYPE_CHECKING:
    import datasets

SPLITS: tuple[str, ...] = ("train", "dev", "test")
EXPORT_COLUMNS = ("position", "task", "task_type", "split", "id", "source", "target")
Template = Literal["default", "alpaca"]
TaskFormat = Literal["benchmark", "instruct"]


@dataclass(frozen=True)
class Example:
    """One labelled example.

    CL benchmark: `sentence` and `label` as in the data file. Long-sequence format:
    `instruction`, `sentence` = the record's `input`, `label` = its `output`.
    """

    sentence: str
    label: str
    id: str = ""
    instruction: str = ""


@dataclass(frozen=True)
class Prompted:
    """A prompt ready for an encoder: source text, target text and the task it came from."""

    source: str
    target: str
    task: str = ""
    id: str = ""


@dataclass(frozen=True)
class Task:
    """One task of a continual-learning stream.

    `format` says how prompts are built: "benchmark" (the O-LoRA CL-benchmark prompt) or
    "instruct" (long-sequence records: instruction + input, or the Alpaca template).
    `files` records which file each split was read from (empty for generated tasks).
    """

    name: str
    task_type: str
    labels: tuple[str, ...]
    train: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    format: TaskFormat = "benchmark"
    files: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def split(self, split: str) -> tuple[Example, ...]:
        """The examples of `split` ("train", "dev" or "test")."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, split)

    def source(self, example: Example, template: Template = "default") -> str:
        """The source (prompt) text of `example`.

        template "default": the CL-benchmark prompt for benchmark tasks, instruction + input for
        instruct tasks (T5). "alpaca": the Alpaca template (instruct tasks only; causal LMs).
        """
        if template == "default":
            if self.format == "instruct":
                return instruct_source(example.instruction, example.sentence)
            return benchmark_prompt(self.task_type, self.name, self.labels, example.sentence)
        if template == "alpaca":
            if self.format != "instruct":
                raise ValueError(
                    f"task {self.name!r}: the Alpaca template needs long-sequence (instruct) "
                    "records; CL-benchmark tasks use template='default' for every model"
                )
            return alpaca_prompt(example.instruction, example.sentence)
        raise ValueError(f"unknown template {template!r}; expected 'default' or 'alpaca'")

    def prompted(self, split: str, template: Template = "default") -> list[Prompted]:
        """Every example of `split` as (source, target) pairs, in file order."""
        return [
            Prompted(self.source(ex, template), ex.label, self.name, ex.id)
            for ex in self.split(split)
        ]

    def label_counts(self, split: str) -> dict[str, int]:
        """How many examples of `split` carry each label (labels.json order, then others)."""
        counts = Counter(ex.label for ex in self.split(split))
        ordered = {label: counts.pop(label, 0) for label in self.labels}
        ordered.update(counts)
        return ordered

    def to_hf_dataset(self, split: str, template: Template = "default") -> datasets.Dataset:
        """`split` as a Hugging Face `datasets.Dataset` with columns id, sentence, label,
        instruction, source (the prompt) and target: a view to map, filter, tokenise or push to
        the Hub with the `datasets` tools."""
        import datasets

        examples = self.split(split)
        columns = {
            "id": [ex.id for ex in examples],
            "sentence": [ex.sentence for ex in examples],
            "label": [ex.label for ex in examples],
            "instruction": [ex.instruction for ex in examples],
            "source": [self.source(ex, template) for ex in examples],
            "target": [ex.label for ex in examples],
        }
        features = datasets.Features({name: datasets.Value("string") for name in columns})
        return datasets.Dataset.from_dict(columns, features=features)

    def with_splits(self, **splits: Sequence[Example]) -> Task:
        """A copy with some splits replaced (e.g. `task.with_splits(train=subset)`)."""
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown split(s) {sorted(unknown)}; expected {', '.join(SPLITS)}")
        return replace(self, **{name: tuple(rows) for name, rows in splits.items()})


@dataclass(frozen=True)
class TaskStream:
    """An ordered sequence of tasks; iterate it to get the tasks in training order."""

    tasks: tuple[Task, ...]
    name: str = ""
    order: int | None = None

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, key: int | str) -> Task:
        """A task by position or by name."""
        if isinstance(key, str):
            for task in self.tasks:
                if task.name == key:
                    return task
            raise KeyError(f"no task named {key!r} in {self.name or 'stream'}: {self.names}")
        return self.tasks[key]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)

    def to_hf_dataset(
        self, splits: Sequence[str] = SPLITS, template: Template = "default"
    ) -> datasets.Dataset:
        """Every example of `splits` of every task, in stream order, as one `datasets.Dataset`
        with the columns of `cl-data export`: position, task, task_type, split, id, source,
        target."""
        import datasets

        columns: dict[str, list] = {k: [] for k in EXPORT_COLUMNS}
        for position, task in enumerate(self.tasks):
            for split in splits:
                for example in task.prompted(split, template):
                    row = (position, task.name, task.task_type, split, example.id)
                    for key, value in zip(EXPORT_COLUMNS, (*row, example.source, example.target)):
                        columns[key].append(value)
        features = {k: datasets.Value("string") for k in EXPORT_COLUMNS}
        features["position"] = datasets.Value("int32")
        return datasets.Dataset.from_dict(columns, features=datasets.Features(features))

    def subsample(
        self,
        *,
        max_train_samples: int | None = None,
        max_dev_samples: int | None = None,
        max_test_samples: int | None = None,
        seed: int = 42,
        balanced: bool = False,
    ) -> TaskStream:
        """Every task sub-sampled with `cl_data.sampling.subsample_task` (same arguments)."""
        from cl_data.sampling import subsample_task

        tasks = tuple(
            subsample_task(
                task,
                max_train_samples=max_train_samples,
                max_dev_samples=max_dev_samples,
                max_test_samples=max_test_samples,
                seed=seed,
                balanced=balanced,
            )
            for task in self.tasks
        )
        return replace(self, tasks=tasks)

"""Concept-1K from its raw file (spec classic-methods.md section 3.2).

``dataset.txt`` holds records of five lines each, no blank lines::

    (Concept, Relation, CamelCaseTarget)
    Q1: <train question>
    A1: <answer>
    Q2: <paraphrase>
    Q2: <answer again; the prefix really is "Q2: ">

- Concept and relation ids follow first appearance; instance ids follow file order.
- Split: ``order = list(range(NUM_CONCEPT)); random.seed(seed); random.shuffle(order)``; the
  concept with new id k is the original concept ``order[k]``. With T tasks each task owns
  ``NUM_CONCEPT // T`` new ids and task 0 also takes the remainder (10 tasks: 105, then 102).
- Train = (Q1, A1); dev = test = (Q2, answer); ``label_idx_cil`` = ``concept_id`` = the new id.
- DECISION: the final record is kept (the reference dropped it: task 0 had 1698 rows, not 1699).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from cl_data.classic.continual import ContinualConfig, ContinualData
from cl_data.errors import DataError
from cl_data.paths import shared_data_root

LINES_PER_RECORD = 5
PREFIXES = ("Q1: ", "A1: ", "Q2: ", "Q2: ")


@dataclass(frozen=True)
class ConceptRecord:
    """One Concept-1K record with original (first-appearance) concept and relation ids."""

    instance_id: int
    concept: str
    relation: str
    target_camel: str
    train_question: str
    train_answer: str
    test_question: str
    test_answer: str


def default_concept1k_file() -> Path:
    return shared_data_root() / "concept_1k" / "dataset.txt"


def _field(line: str, prefix: str, path: Path, lineno: int) -> str:
    if not line.startswith(prefix):
        raise DataError(f"line {lineno}: expected a line starting with {prefix!r}: {line!r}", path)
    return line[len(prefix) :].strip()


def read_concept1k_records(path: str | PathLike[str] | None = None) -> list[ConceptRecord]:
    """Parse ``dataset.txt``; errors name the file and the 1-based line number."""
    path = Path(path) if path is not None else default_concept1k_file()
    if not path.is_file():
        raise DataError("Concept-1K raw file not found (set CL_SHARED_DATA)", path)
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % LINES_PER_RECORD:
        start = len(lines) - len(lines) % LINES_PER_RECORD + 1
        raise DataError(
            f"{len(lines)} lines is not a multiple of {LINES_PER_RECORD}: the record starting "
            f"at line {start} is incomplete",
            path,
        )
    records = []
    for i in range(0, len(lines), LINES_PER_RECORD):
        head = lines[i].strip()
        if not (head.startswith("(") and head.endswith(")")):
            raise DataError(f"line {i + 1}: expected '(Concept, Relation, Target)': {head!r}", path)
        parts = head[1:-1].rsplit(", ", 2)
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise DataError(f"line {i + 1}: expected three comma-separated fields: {head!r}", path)
        fields = [
            _field(lines[i + k + 1], prefix, path, i + k + 2) for k, prefix in enumerate(PREFIXES)
        ]
        records.append(
            ConceptRecord(
                len(records), parts[0].strip(), parts[1].strip(), parts[2].strip(), *fields
            )
        )
    return records


def concept_task_sizes(num_concept: int, num_task: int) -> list[int]:
    """Concepts per task: ``num_concept // num_task`` each, the remainder to task 0."""
    if not 1 <= num_task <= num_concept:
        raise ValueError(f"num_task must be in [1, {num_concept}], got {num_task}")
    per = num_concept // num_task
    return [num_concept - per * (num_task - 1)] + [per] * (num_task - 1)


def build_concept1k(
    path: str | PathLike[str] | None = None, *, num_task: int = 10, seed: int = 1
) -> tuple[ContinualData, ContinualConfig]:
    """The Concept-1K continual dataset and its config (``num_task=1``: ``concept_1k_task1``)."""
    records = read_concept1k_records(path)
    concept_ids: dict[str, int] = {}
    relation_ids: dict[str, int] = {}
    for rec in records:
        concept_ids.setdefault(rec.concept, len(concept_ids))
        relation_ids.setdefault(rec.relation, len(relation_ids))
    num_concept = len(concept_ids)
    order = list(range(num_concept))
    random.Random(seed).shuffle(order)  # same stream as random.seed(seed); random.shuffle(order)
    new_of_orig = {orig: new for new, orig in enumerate(order)}
    names_by_orig = list(concept_ids)
    concept_list = [names_by_orig[orig] for orig in order]
    sizes = concept_task_sizes(num_concept, num_task)
    task_of_new: list[int] = [t for t, n in enumerate(sizes) for _ in range(n)]
    config = ContinualConfig.from_class_counts(
        sizes, concept_list, label2idx=False, idx2label=False
    )
    config.label2idx = []  # as in the released config file
    config.extras = {
        "NUM_CONCEPT": num_concept,
        "CONCEPT_LIST": concept_list,
        "RELATION_LIST": list(relation_ids),
        "CONCEPT_2_TASK": task_of_new,
    }
    pre = config.pre_accum_num_class
    columns = (
        "input",
        "target",
        "label_idx_cil",
        "label_idx_til",
        "instance_id",
        "concept_id",
        "relation_id",
    )
    data: ContinualData = {
        t: {split: {c: [] for c in columns} for split in ("train", "dev", "test")}
        for t in range(num_task)
    }
    for rec in records:
        new = new_of_orig[concept_ids[rec.concept]]
        t = task_of_new[new]
        meta = {
            "label_idx_cil": new,
            "label_idx_til": new - pre[t],
            "instance_id": rec.instance_id,
            "concept_id": new,
            "relation_id": relation_ids[rec.relation],
        }
        for split, (x, y) in (
            ("train", (rec.train_question, rec.train_answer)),
            ("dev", (rec.test_question, rec.test_answer)),
            ("test", (rec.test_question, rec.test_answer)),
        ):
            table = data[t][split]
            table["input"].append(x)
            table["target"].append(y)
            for key, value in meta.items():
                table[key].append(value)
    return data, config

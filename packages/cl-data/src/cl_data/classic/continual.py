"""The classic codebase's on-disk format: ``continual_data.json`` and ``continual_config.json``.

``continual_data.json`` (spec classic-methods.md section 3.1)::

    {"0": {"train": {"input": [...], "target": [...], "label_idx_cil": [...], ...},
           "dev": {...}, "test": {...}},
     "1": {...}}

In memory the task ids are ints: ``ContinualData = dict[int, dict[str, dict[str, list]]]``.
Every split is a column table: a mapping column -> list, all lists of one length.

``continual_config.json`` holds the class layout. Task t owns the global (CIL) labels
``[PRE_ACCUM_NUM_CLASS[t], ACCUM_NUM_CLASS[t])``; its TIL label is the CIL label minus
``PRE_ACCUM_NUM_CLASS[t]`` (DECISION: always derived, never read from a file's TIL column).
CIT/CKE sets carry ``NUM_TASK`` only. Dataset-specific keys (``CONCEPT_LIST``...) are kept in
``ContinualConfig.extras`` and written back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from cl_data import jsonio
from cl_data.errors import DataError
from cl_data.jsonio import read_json

ContinualData = dict[int, dict[str, dict[str, list[Any]]]]

SPLITS = ("train", "dev", "test")
TEXT_COLUMNS = ("input", "target")
# Columns whose values must be ints (NER's label_idx_cil is a list of tag strings instead).
INT_COLUMNS = ("label_idx_til", "instance_id", "concept_id", "relation_id")
CLASS_KEYS = (
    "NUM_CLASS",
    "LABEL_LIST",
    "CLASSNAME_LIST",
    "CUR_NUM_CLASS",
    "CUR_CLASS",
    "ACCUM_NUM_CLASS",
    "PRE_ACCUM_NUM_CLASS",
)


@dataclass
class ContinualConfig:
    """The class layout of a continual dataset (``continual_config.json``).

    ``num_task`` is always set. The class fields are None for sets without labels (CIT/CKE).
    ``label2idx`` is a name -> id mapping (the released Concept-1K file stores an empty list,
    which is kept as is); ``idx2label`` empty means "compare predictions against ``target``".
    """

    num_task: int
    cur_class: list[list[int]] | None = None
    label_list: list[str] | None = None
    classname_list: list[str] | None = None
    label2idx: dict[str, int] | list[Any] = field(default_factory=dict)
    idx2label: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    # -- derived layout -------------------------------------------------------------------------
    @property
    def has_classes(self) -> bool:
        return self.cur_class is not None

    def _classes(self) -> list[list[int]]:
        if self.cur_class is None:
            raise ValueError("this continual config has no classes (a CIT/CKE set: NUM_TASK only)")
        return self.cur_class

    @property
    def cur_num_class(self) -> list[int]:
        return [len(c) for c in self._classes()]

    @property
    def accum_num_class(self) -> list[int]:
        out, total = [], 0
        for n in self.cur_num_class:
            total += n
            out.append(total)
        return out

    @property
    def pre_accum_num_class(self) -> list[int]:
        return [0, *self.accum_num_class[:-1]]

    @property
    def num_class(self) -> int:
        return sum(self.cur_num_class)

    def task_of_label(self, label_idx_cil: int) -> int:
        """The task whose class range holds the global label."""
        for t, end in enumerate(self.accum_num_class):
            if 0 <= label_idx_cil < end:
                return t
        raise ValueError(f"label_idx_cil {label_idx_cil} outside [0, {self.num_class})")

    # -- dict form ------------------------------------------------------------------------------
    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], path: str | PathLike[str] | None = None
    ) -> ContinualConfig:
        """Validate a ``continual_config.json`` mapping; errors name ``path`` and the key."""
        if not isinstance(raw, Mapping):
            raise DataError(f"expected a JSON object, found {type(raw).__name__}", path)
        num_task = raw.get("NUM_TASK")
        if not isinstance(num_task, int) or isinstance(num_task, bool) or num_task < 1:
            raise DataError(f"NUM_TASK must be a positive integer, found {num_task!r}", path)
        extras = {
            k: v
            for k, v in raw.items()
            if k not in (*CLASS_KEYS, "NUM_TASK", "label2idx", "idx2label")
        }
        label2idx = raw.get("label2idx", {})
        idx2label = raw.get("idx2label", [])
        if not isinstance(label2idx, (dict, list)):
            raise DataError(f"label2idx must be an object, found {type(label2idx).__name__}", path)
        if not isinstance(idx2label, list):
            raise DataError(f"idx2label must be a list, found {type(idx2label).__name__}", path)
        present = [k for k in CLASS_KEYS if k in raw]
        if not present:
            return cls(num_task, label2idx=label2idx, idx2label=idx2label, extras=extras)
        missing = [k for k in CLASS_KEYS if k not in raw]
        if missing:
            raise DataError(f"class keys {missing} are missing (present: {present})", path)
        cur_class = raw["CUR_CLASS"]
        if not isinstance(cur_class, list) or len(cur_class) != num_task:
            raise DataError(f"CUR_CLASS must be a list of NUM_TASK={num_task} lists", path)
        config = cls(
            num_task,
            cur_class=[list(c) for c in cur_class],
            label_list=list(raw["LABEL_LIST"]),
            classname_list=list(raw["CLASSNAME_LIST"]),
            label2idx=label2idx,
            idx2label=idx2label,
            extras=extras,
        )
        expected = {
            "CUR_NUM_CLASS": config.cur_num_class,
            "ACCUM_NUM_CLASS": config.accum_num_class,
            "PRE_ACCUM_NUM_CLASS": config.pre_accum_num_class,
            "NUM_CLASS": config.num_class,
        }
        for key, value in expected.items():
            if raw[key] != value:
                raise DataError(f"{key} is {raw[key]!r} but CUR_CLASS implies {value!r}", path)
        config.check(path)
        return config

    def check(self, path: str | PathLike[str] | None = None) -> None:
        """Task t must own exactly the labels [PRE_ACCUM[t], ACCUM[t]); names cover every class."""
        if self.cur_class is None:
            return
        if len(self.cur_class) != self.num_task:
            raise DataError(f"CUR_CLASS has {len(self.cur_class)} tasks, NUM_TASK={self.num_task}")
        for t, (lo, hi) in enumerate(zip(self.pre_accum_num_class, self.accum_num_class)):
            if self.cur_class[t] != list(range(lo, hi)):
                raise DataError(
                    f"CUR_CLASS[{t}] must be the contiguous range [{lo}, {hi}), "
                    f"found {self.cur_class[t][:8]}...",
                    path,
                )
        for key, names in (
            ("LABEL_LIST", self.label_list),
            ("CLASSNAME_LIST", self.classname_list),
        ):
            if names is None or len(names) != self.num_class:
                size = None if names is None else len(names)
                raise DataError(f"{key} has {size} names, NUM_CLASS={self.num_class}", path)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"NUM_TASK": self.num_task, **self.extras}
        if self.cur_class is not None:
            out.update(
                NUM_CLASS=self.num_class,
                LABEL_LIST=list(self.label_list or []),
                CLASSNAME_LIST=list(self.classname_list or []),
                CUR_NUM_CLASS=self.cur_num_class,
                CUR_CLASS=[list(c) for c in self.cur_class],
                ACCUM_NUM_CLASS=self.accum_num_class,
                PRE_ACCUM_NUM_CLASS=self.pre_accum_num_class,
            )
        out["label2idx"] = self.label2idx
        out["idx2label"] = list(self.idx2label)
        return out

    @classmethod
    def from_class_counts(
        cls,
        counts: Sequence[int],
        label_list: Sequence[str],
        classname_list: Sequence[str] | None = None,
        *,
        label2idx: bool = True,
        idx2label: bool = True,
        extras: dict[str, Any] | None = None,
    ) -> ContinualConfig:
        """A layout where task t owns the next ``counts[t]`` labels of ``label_list``."""
        cur, start = [], 0
        for n in counts:
            cur.append(list(range(start, start + n)))
            start += n
        if start != len(label_list):
            raise ValueError(f"class counts sum to {start}, label_list has {len(label_list)}")
        names = list(classname_list if classname_list is not None else label_list)
        config = cls(
            len(counts),
            cur_class=cur,
            label_list=list(label_list),
            classname_list=names,
            label2idx={name: i for i, name in enumerate(label_list)} if label2idx else {},
            idx2label=list(label_list) if idx2label else [],
            extras=dict(extras or {}),
        )
        config.check()
        return config


# -- label indexing ------------------------------------------------------------------------------
def label_idx_til(label_idx_cil: int, task: int, config: ContinualConfig) -> int:
    """The TIL label of a global label in task ``task``: ``cil - PRE_ACCUM_NUM_CLASS[task]``,
    checked to lie in ``[0, CUR_NUM_CLASS[task])``."""
    til = label_idx_cil - config.pre_accum_num_class[task]
    if not 0 <= til < config.cur_num_class[task]:
        raise ValueError(
            f"label_idx_cil {label_idx_cil} is not a class of task {task} "
            f"(which owns [{config.pre_accum_num_class[task]}, {config.accum_num_class[task]}))"
        )
    return til


def label_idx_cil(label_idx_til: int, task: int, config: ContinualConfig) -> int:
    """The global label of TIL label ``label_idx_til`` of task ``task`` (inverse of the above)."""
    if not 0 <= label_idx_til < config.cur_num_class[task]:
        raise ValueError(
            f"label_idx_til {label_idx_til} outside [0, {config.cur_num_class[task]}) "
            f"of task {task}"
        )
    return label_idx_til + config.pre_accum_num_class[task]


# -- continual_data.json ---------------------------------------------------------------------
def _check_split(
    table: Any, task: int, split: str, config: ContinualConfig | None, path: Any
) -> None:
    where = f"task {task} {split}"
    if not isinstance(table, dict):
        raise DataError(
            f"{where}: expected an object of columns, found {type(table).__name__}", path
        )
    for col in TEXT_COLUMNS:
        if col not in table:
            raise DataError(f"{where}: column {col!r} missing (columns: {sorted(table)})", path)
    lengths = {col: len(v) if isinstance(v, list) else None for col, v in table.items()}
    bad = [c for c, n in lengths.items() if n is None]
    if bad:
        raise DataError(f"{where}: columns {bad} are not lists", path)
    if len(set(lengths.values())) > 1:
        raise DataError(f"{where}: columns differ in length: {lengths}", path)
    for row, value in enumerate(table["input"]):
        if not isinstance(value, str) and not (
            isinstance(value, list) and all(isinstance(w, str) for w in value)
        ):
            raise DataError(f"{where}: input must be a string or a word list", path, row)
    for row, value in enumerate(table["target"]):
        if not isinstance(value, str):
            raise DataError(f"{where}: target must be a string, found {value!r}", path, row)
    for col in INT_COLUMNS:
        for row, value in enumerate(table.get(col, [])):
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataError(f"{where}: {col} must be an integer, found {value!r}", path, row)
    cil = table.get("label_idx_cil")
    if cil is None or config is None or not config.has_classes:
        return
    lo, hi = config.pre_accum_num_class[task], config.accum_num_class[task]
    til = table.get("label_idx_til")
    for row, value in enumerate(cil):
        if isinstance(value, list):  # NER: BIO tag strings
            continue
        if not isinstance(value, int) or not lo <= value < hi:
            raise DataError(f"{where}: label_idx_cil {value!r} outside [{lo}, {hi})", path, row)
        if til is not None and til[row] != value - lo:
            raise DataError(
                f"{where}: label_idx_til {til[row]} != label_idx_cil - {lo} = {value - lo}",
                path,
                row,
            )


def check_continual_data(
    data: Mapping[int, Any], config: ContinualConfig | None = None, path: Any = None
) -> None:
    """Validate the in-memory form; labels are checked against ``config`` when given."""
    if config is not None and sorted(data) != list(range(config.num_task)):
        raise DataError(f"task ids {sorted(data)} != 0..{config.num_task - 1}", path)
    for task, splits in data.items():
        if not isinstance(splits, dict):
            raise DataError(f"task {task}: expected an object of splits", path)
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise DataError(f"task {task}: unknown splits {sorted(unknown)}", path)
        for split, table in splits.items():
            _check_split(table, task, split, config, path)


def read_continual_config(path: str | PathLike[str]) -> ContinualConfig:
    """Read and validate ``continual_config.json``."""
    path = Path(path)
    return ContinualConfig.from_dict(read_json(path), path)


def read_continual_data(
    path: str | PathLike[str], config: ContinualConfig | None = None
) -> ContinualData:
    """Read ``continual_data.json`` (task ids become ints) and validate it."""
    path = Path(path)
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataError(
            f"expected a JSON object keyed by task id, found {type(raw).__name__}", path
        )
    data: ContinualData = {}
    for key, splits in raw.items():
        try:
            task = int(key)
        except ValueError:
            raise DataError(f"task id {key!r} is not an integer", path) from None
        data[task] = splits
    check_continual_data(data, config, path)
    return dict(sorted(data.items()))


def _write_json(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(jsonio.dumps(obj, ensure_ascii=False))
    tmp.replace(path)


def write_continual_data(
    data: ContinualData, path: str | PathLike[str], config: ContinualConfig | None = None
) -> None:
    """Validate and write ``continual_data.json`` (atomically)."""
    check_continual_data(data, config, path)
    _write_json({str(t): data[t] for t in sorted(data)}, Path(path))


def write_continual_config(config: ContinualConfig, path: str | PathLike[str]) -> None:
    config.check(path)
    _write_json(config.to_dict(), Path(path))


def write_continual_dataset(
    data: ContinualData, config: ContinualConfig, directory: str | PathLike[str]
) -> tuple[Path, Path]:
    """Write both files into ``directory``; returns their paths."""
    directory = Path(directory)
    data_path = directory / "continual_data.json"
    config_path = directory / "continual_config.json"
    write_continual_data(data, data_path, config)
    write_continual_config(config, config_path)
    return data_path, config_path


def read_continual_dataset(directory: str | PathLike[str]) -> tuple[ContinualData, ContinualConfig]:
    """Read ``continual_config.json`` then ``continual_data.json`` from ``directory``."""
    directory = Path(directory)
    config = read_continual_config(directory / "continual_config.json")
    return read_continual_data(directory / "continual_data.json", config), config


def split_rows(table: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """A column table as a list of row dicts (the raw examples a buffer or loader stores)."""
    columns = list(table)
    n = len(table[columns[0]]) if columns else 0
    return [{col: table[col][i] for col in columns} for i in range(n)]


def rows_to_table(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Inverse of :func:`split_rows`; every row must have the same columns."""
    if not rows:
        return {}
    columns = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != columns:
            raise ValueError(f"row {i} has columns {list(row)}, expected {columns}")
    return {col: [row[col] for row in rows] for col in columns}

"""CLINC150: 150 in-scope intents in 15 tasks of 10 (spec classic-methods.md section 3.2).

Input: ``data_full.json`` of the public release (github.com/clinc/oos-eval, folder data), an
object whose ``train``/``val``/``test`` lists hold ``[utterance, intent]`` pairs (100/20/30 per
intent). The out-of-scope rows (``oos_*`` keys, or any row labelled ``oos``) are left out.
Splits: train = ``train``, dev = ``val``, test = ``test`` (the official split). Class names are
the intent ids with ``_`` -> space (``"meaning_of_life"`` -> ``"meaning of life"``); task t owns
classes ``[10t, 10t + 10)``.

Class order (``class_order``). The classic codebase numbers the intents with a
``label_dict.json`` (intent -> index) read from the raw folder, and then assigns intents
``10t .. 10t+9`` to task t with no shuffle; that file is not part of the public release. So:

- ``"file"`` (the default when there is no ``label_dict.json``): the order in which the intents
  first appear in ``data_full.json``'s ``train`` list. The release stores each split as one
  contiguous block per intent, in the same intent order in ``train``, ``val`` and ``test``, so
  this is "the release's own order", fixed by the public file and needing no seed. It starts
  ``translate, transfer, timer, definition, meaning of life, ...`` (see :data:`FILE_ORDER_HEAD`).
- ``"label_dict"``: read ``label_dict.json`` beside ``data_full.json`` (a JSON object
  intent -> index, indices a permutation of 0..149; keys with ``_`` or with spaces): use this
  with the codebase's file to reproduce its tasks exactly.
- ``"auto"`` (default): ``"label_dict"`` when that file exists, else ``"file"``.
- ``"sorted"``: alphabetical order of the intent ids.

The order used is recorded in ``config.extras["CLASS_ORDER"]`` and the raw intent ids in
``config.extras["SOURCE_LABEL_LIST"]``.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from cl_data.classic.continual import ContinualConfig, ContinualData
from cl_data.classic.labelled import LabelledSplit, assemble_class_tasks
from cl_data.errors import DataError
from cl_data.jsonio import read_json
from cl_data.paths import shared_data_root

DATA_FILE = "data_full.json"
LABEL_DICT_FILE = "label_dict.json"
RAW_SPLITS = {"train": "train", "dev": "val", "test": "test"}
OUT_OF_SCOPE = "oos"
CLASS_ORDERS = ("auto", "file", "label_dict", "sorted")
FILE_ORDER_HEAD = ("translate", "transfer", "timer", "definition", "meaning_of_life")


def default_clinc150_dir() -> Path:
    return shared_data_root() / "clinc150"


def intent_name(intent: str) -> str:
    """The class name of an intent id: ``_`` -> space."""
    return intent.replace("_", " ")


def read_clinc150(path: str | PathLike[str]) -> dict[str, list[tuple[int, str, str]]]:
    """The in-scope rows of ``data_full.json`` by split (train, dev, test) as ``(row,
    utterance, intent)``, ``row`` being the 0-based position in the file's list; errors name
    the file, the split and the row."""
    path = Path(path)
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"expected a JSON object of splits, found {type(raw).__name__}", path)
    out: dict[str, list[tuple[int, str, str]]] = {}
    for split, key in RAW_SPLITS.items():
        rows = raw.get(key)
        if not isinstance(rows, list):
            raise DataError(f"split {key!r} is missing or not a list (keys: {sorted(raw)})", path)
        kept = []
        for i, row in enumerate(rows):
            ok = isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row)
            if not ok:
                raise DataError(f"{key}: expected [utterance, intent], found {row!r}", path, i)
            if row[1] != OUT_OF_SCOPE:
                kept.append((i, row[0], row[1]))
        if not kept:
            raise DataError(f"split {key!r} has no in-scope rows", path)
        out[split] = kept
    return out


def _label_dict_order(path: Path, intents: set[str]) -> list[str]:
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataError("expected a JSON object intent -> index", path)
    by_name = {intent_name(i): i for i in intents}
    order: dict[int, str] = {}
    for key, index in raw.items():
        if intent_name(key) not in by_name:
            raise DataError(f"intent {key!r} is not an in-scope intent of {DATA_FILE}", path)
        if not isinstance(index, int) or isinstance(index, bool) or index in order:
            raise DataError(f"index {index!r} of {key!r} is not a new integer", path)
        order[index] = by_name[intent_name(key)]
    if sorted(order) != list(range(len(intents))):
        raise DataError(
            f"indices must be 0..{len(intents) - 1} over every intent, found {len(order)}", path
        )
    return [order[i] for i in range(len(intents))]


def clinc150_class_order(
    rows: dict[str, list[tuple[int, str, str]]], directory: Path, class_order: str = "auto"
) -> tuple[list[str], str]:
    """The intent ids in class order and a description of where the order came from."""
    if class_order not in CLASS_ORDERS:
        raise ValueError(f"class_order must be one of {CLASS_ORDERS}, got {class_order!r}")
    first_seen: list[str] = []
    seen: set[str] = set()
    for _, _, intent in rows["train"]:
        if intent not in seen:
            seen.add(intent)
            first_seen.append(intent)
    label_dict = directory / LABEL_DICT_FILE
    if class_order == "auto":
        class_order = "label_dict" if label_dict.is_file() else "file"
    if class_order == "label_dict":
        if not label_dict.is_file():
            raise DataError("class_order='label_dict' but the file is missing", label_dict)
        return _label_dict_order(label_dict, seen), f"label_dict: {label_dict}"
    if class_order == "sorted":
        return sorted(first_seen), "sorted: intent ids in alphabetical order"
    return first_seen, f"file: first appearance in the train split of {DATA_FILE}"


def build_clinc150(
    data_dir: str | PathLike[str] | None = None,
    *,
    num_task: int = 15,
    class_order: str = "auto",
    seed: int = 1,
    train_per_class: int | None = None,
    dev_per_class: int | None = None,
    test_per_class: int | None = None,
) -> tuple[ContinualData, ContinualConfig]:
    """CLINC150 as (continual data, config). ``data_dir`` holds ``data_full.json`` (default:
    ``$CL_SHARED_DATA/clinc150``); ``*_per_class`` cap each class (None: all rows)."""
    directory = Path(data_dir) if data_dir is not None else default_clinc150_dir()
    if directory.is_file():
        directory, path = directory.parent, directory
    else:
        path = directory / DATA_FILE
    rows = read_clinc150(path)
    intents, source = clinc150_class_order(rows, directory, class_order)
    index = {intent: i for i, intent in enumerate(intents)}
    splits: dict[str, LabelledSplit] = {}
    for split, triples in rows.items():
        labelled = []
        for i, text, intent in triples:
            if intent not in index:
                raise DataError(
                    f"{RAW_SPLITS[split]}: intent {intent!r} does not occur in train", path, i
                )
            labelled.append((text, index[intent]))
        splits[split] = LabelledSplit(path, labelled)
    extras: dict[str, Any] = {"CLASS_ORDER": source, "SOURCE_LABEL_LIST": intents}
    return assemble_class_tasks(
        "clinc150",
        [intent_name(i) for i in intents],
        splits,
        num_task=num_task,
        seed=seed,
        caps={"train": train_per_class, "dev": dev_per_class, "test": test_per_class},
        extras=extras,
    )

"""FewRel (8 tasks x 10 relations) and TACRED (8 x 5) from their class-ordered splits
(spec classic-methods.md section 3.2). Their preprocessed files are not shipped with the shared
data; a user who has them points ``data_dir`` at a folder in one of two layouts.

**JSON layout** (preferred). ``train.json``, ``test.json`` and, for FewRel, ``dev.json``: each a
JSON list with one entry per relation, in class order; each entry a list of rows::

    [  # class 0
      [{"text": "[E11] Ann [E12] was born in [E21] Paris [E22] .",
        "semantic_label": "place of birth"}, ...],
      # class 1 ...
    ]

``text`` marks the head entity with ``[E11] ... [E12]`` and the tail with ``[E21] ... [E22]``
(the relation prompts read the entities from them); ``semantic_label`` names the relation. Other
keys are ignored.

**The classic codebase's pickles** (the 2021 split of the VAG benchmark): ``FewRel-2021.pkl`` or
``TACRED-2021.pkl``, a ``(train, dev, test)`` triple of such per-class lists of dicts. They are
read only when the JSON files are absent. Unpickling runs code from the file: open only pickles
you trust (or convert them once: ``json.dump(pickle.load(f)[i], ...)`` for i = 0, 1, 2).

Rules (as in the codebase): class i is the i-th entry of the train list; task t owns classes
``[kt, kt + k)`` with no shuffle; class i's name is the ``semantic_label`` of its first train
row, and every row of class i in every split must carry the same label. FewRel: dev = the dev
file. TACRED: dev = test (its dev file or pickle entry is not read), and the raw names are
expanded: ``per:title`` -> ``person related: title``, ``org:founded_by`` ->
``organization related: founded by`` (see :func:`tacred_semantic_label`).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

from cl_data.classic.continual import ContinualConfig, ContinualData
from cl_data.classic.labelled import LabelledSplit, assemble_class_tasks
from cl_data.classic.prompts import has_entity_markers
from cl_data.errors import DataError
from cl_data.jsonio import read_json_list

PICKLES = {"fewrel": "FewRel-2021.pkl", "tacred": "TACRED-2021.pkl"}
PICKLE_INDEX = {"train": 0, "dev": 1, "test": 2}
TACRED_PREFIX = {"per": "person related", "org": "organization related"}
TACRED_IRREGULAR = {"cities_of_residence": "city_of_residence"}


def tacred_semantic_label(label: str) -> str:
    """A TACRED relation id spelt out: the ``per:``/``org:`` prefix becomes ``person related:``
    / ``organization related:``, ``stateorprovince`` becomes ``state or province``, ``_``
    becomes a space, and ``cities_of_residence`` is singular (as in the VAG mapping the classic
    codebase uses). Any other label (already spelt out, ``no_relation``) is kept as it is."""
    prefix, sep, relation = label.partition(":")
    if not sep or prefix not in TACRED_PREFIX:
        return label
    relation = TACRED_IRREGULAR.get(relation, relation)
    relation = relation.replace("stateorprovince", "state_or_province").replace("_", " ")
    return f"{TACRED_PREFIX[prefix]}: {relation}"


def _check_classes(raw: Any, path: Path, split: str) -> list[list[Any]]:
    if not isinstance(raw, list) or not all(isinstance(c, list) for c in raw):
        raise DataError(f"{split}: expected a list of per-class row lists", path)
    return raw


def read_relation_splits(data_dir: Path, dataset: str) -> dict[str, tuple[Path, list[list[Any]]]]:
    """The per-class row lists of each split and the file each came from."""
    if not data_dir.is_dir():
        raise DataError(
            f"{dataset} data folder not found (expected train.json/test.json"
            f"{'/dev.json' if dataset == 'fewrel' else ''} or {PICKLES[dataset]})",
            data_dir,
        )
    names = ("train", "dev", "test") if dataset == "fewrel" else ("train", "test")
    json_files = {split: data_dir / f"{split}.json" for split in names}
    pickle_file = data_dir / PICKLES[dataset]
    if not any(p.is_file() for p in json_files.values()) and pickle_file.is_file():
        try:
            with pickle_file.open("rb") as handle:
                triple = pickle.load(handle)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
            raise DataError(f"cannot unpickle: {err}", pickle_file) from None
        if not isinstance(triple, (list, tuple)) or len(triple) != 3:
            raise DataError("expected a (train, dev, test) triple", pickle_file)
        return {
            split: (pickle_file, _check_classes(triple[PICKLE_INDEX[split]], pickle_file, split))
            for split in names
        }
    return {
        split: (path, _check_classes(read_json_list(path), path, split))
        for split, path in json_files.items()
    }


def _row_fields(row: Any, path: Path, where: str) -> tuple[str, str]:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object, found {type(row).__name__}", path)
    text, label = row.get("text"), row.get("semantic_label")
    if not isinstance(text, str) or not isinstance(label, str):
        raise DataError(f"{where}: 'text' and 'semantic_label' must be strings", path)
    if not has_entity_markers(text):
        raise DataError(f"{where}: no [E11] head [E12] ... [E21] tail [E22] markers", path)
    return text, label


def build_relation_dataset(
    dataset: str,
    data_dir: str | PathLike[str] | None,
    *,
    num_task: int = 8,
    seed: int = 1,
    train_per_class: int | None = None,
    dev_per_class: int | None = None,
    test_per_class: int | None = None,
) -> tuple[ContinualData, ContinualConfig]:
    """FewRel or TACRED (``dataset``) as (continual data, config)."""
    if dataset not in PICKLES:
        raise ValueError(f"dataset must be fewrel or tacred, got {dataset!r}")
    if data_dir is None:
        raise DataError(
            f"{dataset}: its preprocessed files are not in the shared data; pass the folder that "
            f"holds train.json/test.json or {PICKLES[dataset]} (data.dir)"
        )
    name_of: Callable[[str], str] = tacred_semantic_label if dataset == "tacred" else str
    sources = read_relation_splits(Path(data_dir), dataset)
    train_path, train_classes = sources["train"]
    class_names = []
    for i, rows in enumerate(train_classes):
        if not rows:
            raise DataError(f"train: class {i} has no rows, so its relation is unknown", train_path)
        class_names.append(name_of(_row_fields(rows[0], train_path, f"train class {i} row 0")[1]))
    if len(set(class_names)) != len(class_names):
        raise DataError(f"train: relation names repeat across classes: {class_names}", train_path)
    splits: dict[str, LabelledSplit] = {}
    for split, (path, classes) in sources.items():
        if len(classes) != len(class_names):
            raise DataError(
                f"{split}: {len(classes)} classes, but train has {len(class_names)}", path
            )
        labelled = []
        for i, rows in enumerate(classes):
            for j, row in enumerate(rows):
                text, label = _row_fields(row, path, f"{split} class {i} row {j}")
                if name_of(label) != class_names[i]:
                    raise DataError(
                        f"{split} class {i} row {j}: relation {label!r}, but class {i} is "
                        f"{class_names[i]!r}",
                        path,
                    )
                labelled.append((text, i))
        splits[split] = LabelledSplit(path, labelled)
    return assemble_class_tasks(
        dataset,
        class_names,
        splits,
        num_task=num_task,
        seed=seed,
        caps={"train": train_per_class, "dev": dev_per_class, "test": test_per_class},
        dev_from_test=dataset == "tacred",
        extras={"CLASS_ORDER": f"file: class lists of {train_path.name}"},
    )


def build_fewrel(
    data_dir: str | PathLike[str] | None = None, **kwargs: Any
) -> tuple[ContinualData, ContinualConfig]:
    """FewRel, 8 tasks x 10 relations; dev from its own file (see the module docstring)."""
    return build_relation_dataset("fewrel", data_dir, **kwargs)


def build_tacred(
    data_dir: str | PathLike[str] | None = None, **kwargs: Any
) -> tuple[ContinualData, ContinualConfig]:
    """TACRED, 8 tasks x 5 relations, names spelt out, dev = test (see the module docstring)."""
    kwargs.pop("dev_per_class", None)
    return build_relation_dataset("tacred", data_dir, **kwargs)

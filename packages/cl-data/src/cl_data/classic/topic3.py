"""topic3datasets: 25 topic classes from AGNews, DBpedia and Yahoo in 5 tasks of 5 classes
(spec classic-methods.md section 3.2), built from the CL benchmark's copies of the three sets.

- Classes: AGNews 4 + DBpedia 14 + Yahoo 7 (Yahoo's Sports, Business & Finance and
  Science & Mathematics are dropped so that no topic appears twice).
- Names normalised: Sci/Tech (the benchmark's "Science or Technology") -> Science and Technology,
  CamelCase split, "&" -> "and".
- Input = title + body: the benchmark's ``Title: ...\\nText: ...`` (Yahoo: ``Question:`` and
  ``Answer:``) fields joined by one space, prefixes removed, escaped newlines made spaces.
- Per class: up to 3000 train rows from the train split; up to 2000 dev and 2000 test rows, each
  drawn (independently) from the official test split. Class order shuffled with the seed.
- DECISION: each row's target is the name of its own class after the shuffle (the reference
  mislabelled target names).

Note: the shared copies are smaller than the originals (see PROVENANCE.md: DBpedia and Yahoo
train hold 1000 rows, Yahoo test 500), so the per-class caps are not reached for those sources.
"""

from __future__ import annotations

import random
import re
from os import PathLike
from pathlib import Path

from cl_data.benchmark import load_task
from cl_data.classic.continual import ContinualConfig, ContinualData

SOURCES = ("agnews", "dbpedia", "yahoo")
DROPPED = {"yahoo": ("Sports", "Business & Finance", "Science & Mathematics")}
RENAMED = {"Sci/Tech": "Science and Technology", "Science or Technology": "Science and Technology"}
FIELD_PREFIX = re.compile(r"^(Title|Text|Question|Answer):\s?")


def normalise_class_name(name: str) -> str:
    """Sci/Tech -> Science and Technology; CamelCase split; "&" -> "and"."""
    name = RENAMED.get(name, name)
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    name = name.replace("&", "and")
    return re.sub(r"\s+", " ", name).strip()


def title_body(sentence: str) -> str:
    """The title and body of a benchmark row, field prefixes removed, joined by single spaces."""
    parts = []
    for line in sentence.replace("\\n", " ").split("\n"):
        text = FIELD_PREFIX.sub("", line.strip()).strip()
        if text:
            parts.append(text)
    return re.sub(r"\s+", " ", " ".join(parts))


def _sample(rows: list[str], n: int, key: str) -> list[str]:
    if len(rows) <= n:
        return list(rows)
    return random.Random(key).sample(rows, n)


def build_topic3(
    data_dir: str | PathLike[str] | None = None,
    *,
    seed: int = 1,
    classes_per_task: int = 5,
    train_per_class: int = 3000,
    dev_per_class: int = 2000,
    test_per_class: int = 2000,
) -> tuple[ContinualData, ContinualConfig]:
    """topic3datasets as (continual data, config). ``data_dir`` is the CL_Benchmark folder."""
    root = Path(data_dir) if data_dir is not None else None
    classes: list[tuple[str, str, str]] = []  # (source, original label, normalised name)
    pools: dict[tuple[str, str], dict[str, list[str]]] = {}
    for source in SOURCES:
        task = load_task(source, root)
        for label in task.labels:
            if label in DROPPED.get(source, ()):
                continue
            classes.append((source, label, normalise_class_name(label)))
            pools[(source, label)] = {
                split: [title_body(ex.sentence) for ex in task.split(split) if ex.label == label]
                for split in ("train", "test")
            }
    names = [c[2] for c in classes]
    if len(set(names)) != len(names):
        raise ValueError(f"topic3 class names are not unique after normalisation: {names}")
    if len(classes) % classes_per_task:
        raise ValueError(f"{len(classes)} classes do not split into tasks of {classes_per_task}")
    order = list(range(len(classes)))
    random.Random(seed).shuffle(order)
    shuffled = [classes[i] for i in order]
    num_task = len(classes) // classes_per_task
    config = ContinualConfig.from_class_counts(
        [classes_per_task] * num_task,
        [c[2] for c in shuffled],
        extras={"SOURCE_CLASS_LIST": [f"{c[0]}:{c[1]}" for c in shuffled]},
    )
    data: ContinualData = {}
    caps = {"train": train_per_class, "dev": dev_per_class, "test": test_per_class}
    for t in range(num_task):
        data[t] = {}
        for split, cap in caps.items():
            rows: list[tuple[str, int]] = []
            for cil in config.cur_class[t]:  # type: ignore[index]
                source, label, _ = shuffled[cil]
                pool = pools[(source, label)]["train" if split == "train" else "test"]
                key = f"topic3/{seed}/{source}/{label}/{split}"
                rows.extend((x, cil) for x in _sample(pool, cap, key))
            random.Random(f"topic3/{seed}/task{t}/{split}").shuffle(rows)
            pre = config.pre_accum_num_class[t]
            data[t][split] = {
                "input": [x for x, _ in rows],
                "target": [shuffled[c][2] for _, c in rows],
                "label_idx_cil": [c for _, c in rows],
                "label_idx_til": [c - pre for _, c in rows],
            }
    return data, config

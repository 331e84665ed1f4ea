"""Write a task stream's prompts to JSONL (one line per example) or Parquet (one row per
example, through `datasets`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from cl_data import jsonio
from cl_data.task import SPLITS, TaskStream, Template


def export_stream(
    stream: TaskStream,
    path: str | Path,
    *,
    splits: Sequence[str] = SPLITS,
    template: Template = "default",
) -> int:
    """Write every example of `splits` of every task, in stream order; returns the row count.

    Each row: {"position", "task", "task_type", "split", "id", "source", "target"}. A path ending
    in ``.parquet`` gets a Parquet file (`TaskStream.to_hf_dataset`), any other a JSON-lines
    file. The file is written to a temporary name and renamed at the end, so an interrupted
    export leaves no partial file.
    """
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected some of {', '.join(SPLITS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if path.suffix == ".parquet":
        try:
            dataset = stream.to_hf_dataset(splits, template)
            dataset.to_parquet(str(partial))
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return dataset.num_rows
    count = 0
    try:
        with partial.open("w", encoding="utf-8") as out:
            for position, task in enumerate(tqdm(stream, desc="export", unit="task", disable=None)):
                for split in splits:
                    for example in task.prompted(split, template):
                        line = {
                            "position": position,
                            "task": task.name,
                            "task_type": task.task_type,
                            "split": split,
                            "id": example.id,
                            "source": example.source,
                            "target": example.target,
                        }
                        out.write(jsonio.dumps(line, ensure_ascii=False) + "\n")
                        count += 1
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count

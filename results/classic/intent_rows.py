"""Rows and accuracy matrices of the CLINC150/BANKING77 runs for ``intent_minilm.md``.

    python results/classic/intent_rows.py runs/classic/intent clinc150_ewc clinc150_derpp ...

A finished run (``results.json``) gives AP, AIA, BWT, forgetting, the diagonal and the wall-clock
runtime. A run stopped before its last task (only ``trainer_results.json``, written after every
task) is reported as PARTIAL: the tasks it finished, the mean of its last finished row over the
tasks seen then, its diagonal so far and the training seconds of its finished tasks; no BWT or
forgetting, which need the whole stream.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def diagonal(matrix: list[list[float | None]]) -> list[float]:
    return [row[i] for i, row in enumerate(matrix) if i < len(row) and row[i] is not None]


def row(folder: Path) -> tuple[str, list[list[float | None]], list[str]]:
    final = folder / "results.json"
    if final.is_file():
        data = json.loads(final.read_text())
        m, matrix = data["metrics"], data["matrix"]
        diag = diagonal(matrix)
        cells = [fmt(m["ap"]), fmt(m["aia"]), fmt(m["bwt"]), fmt(m["forgetting"])]
        span = f"{sum(diag) / len(diag):.2f} ({min(diag):.0f}-{max(diag):.0f})"
        runtime = str(data["hardware"].get("runtime_s", "n/a"))
        text = f"| {folder.name} | {len(diag)}/{len(matrix)} | " + " | ".join(cells)
        return f"{text} | {span} | {runtime} |", matrix, data["tasks"]
    data = json.loads((folder / "trainer_results.json").read_text())
    matrix = data["matrix"]
    diag = diagonal(matrix)
    if not diag:
        return f"| {folder.name} | 0/{len(matrix)} | no task finished |", [], []
    last = [v for v in matrix[len(diag) - 1][: len(diag)] if v is not None]
    seconds = sum(s["seconds"] for s in data["train_stats"])
    span = f"{sum(diag) / len(diag):.2f} ({min(diag):.0f}-{max(diag):.0f})"
    text = f"| {folder.name} (PARTIAL) | {len(diag)}/{len(matrix)} | {fmt(sum(last) / len(last))}"
    return (
        f"{text} | n/a | n/a | n/a | {span} | {seconds:.0f} (training, finished tasks) |",
        matrix[: len(diag)],
        data["task_names"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    lines = [
        "| run | tasks done | AP (partial: last row) | AIA | BWT | forgetting | diag (min-max) "
        "| runtime s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    blocks = []
    for name in args.names:
        text, matrix, tasks = row(args.runs / name)
        lines.append(text)
        if not matrix:
            continue
        short = [f"t{j}" for j in range(len(tasks))]
        blocks += [f"**{name}**", "", "| after | " + " | ".join(short) + " |"]
        blocks.append("|---|" + "---:|" * len(short))
        for i, r in enumerate(matrix):
            cells = " | ".join("" if v is None else f"{v:.0f}" for v in r)
            blocks.append(f"| t{i} | {cells} |")
        blocks.append("")
    print("\n".join([*lines, "", *blocks]))


if __name__ == "__main__":
    main()

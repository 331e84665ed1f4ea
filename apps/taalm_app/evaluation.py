"""Probe evaluation for the continual trainer (spec §8): object-token accuracy and NLL.

``ProbeEvaluator(model, task, accelerator)`` scores every probe set of ``task.eval`` (LAMA-ckl:
``to_learn`` and ``nf``; TemporalWiki: ``changed`` and ``unchanged``) with cl-eval's
``object_token_scores`` on teacher-forced logits, and returns a ``TaskScore`` whose score is the
first set's accuracy in percent and whose ``extra`` holds ``<set>_acc``, ``<set>_nll`` and
``<set>_n``. Probes are split over the processes and the per-probe scores gathered.

The trainer evaluates after every epoch and again after each task with the same weights; the
evaluator keeps its last score per task with a fingerprint of the trainable weights (exact sums in
float64) and returns it when the weights have not changed, so no evaluation is computed twice.
Every computed evaluation is appended to ``eval_log.jsonl`` (main process).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object

from cl_eval.ckl import ProbeScore, mean_score, object_token_scores
from cl_methods import TaskScore, jsonsafe

from .data import ProbeSet


def fingerprint(model: torch.nn.Module) -> tuple[float, ...]:
    values: list[float] = []
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                x = p.detach().double()
                values += [float(x.sum()), float((x * x).sum())]
    return tuple(values)


class ProbeEvaluator:
    def __init__(self, pad_token_id: int, batch_size: int, log_path: Path | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.batch_size = batch_size
        self.log_path = log_path
        self._last: dict[str, tuple[tuple[float, ...], TaskScore]] = {}

    def score_set(
        self, model: torch.nn.Module, probes: ProbeSet, accelerator: Any
    ) -> list[ProbeScore]:
        """One score per probe, in order, on every process."""
        world, rank = accelerator.num_processes, accelerator.process_index
        mine = list(range(rank, len(probes), world))
        device = accelerator.device
        out: list[tuple[int, ProbeScore]] = []
        for k in range(0, len(mine), self.batch_size):
            idx = mine[k : k + self.batch_size]
            width = max(len(probes.ids[i]) for i in idx)
            ids = torch.full((len(idx), width), self.pad_token_id, dtype=torch.long)
            attn = torch.zeros_like(ids)
            mask = torch.zeros(len(idx), width - 1)
            for row, i in enumerate(idx):
                n = len(probes.ids[i])
                ids[row, :n] = torch.tensor(probes.ids[i])
                attn[row, :n] = 1
                mask[row, : n - 1] = torch.tensor(probes.masks[i], dtype=mask.dtype)
            with accelerator.autocast():
                logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits
            out += zip(idx, object_token_scores(logits, ids.to(device), mask))
        if world > 1:
            out = gather_object(out)
        return [s for _, s in sorted(out, key=lambda pair: pair[0])]

    def __call__(self, model: torch.nn.Module, task: Any, accelerator: Any) -> TaskScore:
        sets: dict[str, ProbeSet] = task.eval
        key = fingerprint(model)
        cached = self._last.get(task.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        started = time.time()
        extra: dict[str, float] = {}
        first = None
        for name, probes in sets.items():
            scores = self.score_set(model, probes, accelerator)
            mean = mean_score(scores)
            extra.update(
                {f"{name}_acc": mean.acc, f"{name}_nll": mean.nll, f"{name}_n": len(scores)}
            )
            first = mean.acc if first is None else first
        assert first is not None
        score = TaskScore(score=100.0 * first, extra=extra)
        self._last[task.name] = (key, score)
        if self.log_path is not None and accelerator.is_main_process:
            line = {"task": task.name, **extra, "seconds": round(time.time() - started, 2)}
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(jsonsafe.dumps(line) + "\n")
        return score

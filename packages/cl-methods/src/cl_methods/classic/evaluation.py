"""Evaluation of the classic scenarios.

- :class:`ClassificationEvaluator`: heads-based CIL (argmax over the seen tasks' heads = global
  label) and TIL (task j's head = task-local label), optionally with linear probing
  (:mod:`.probing`) whose accuracies go into the cell's extra values (``probe_<name>``).
- :class:`IILEvaluator`: instance-incremental generation; the cell's score is the test split
  (generalisation, ``R``) and ``extra["train_score"]`` the training split (memorisation,
  ``R_train``).

A model (or a method's evaluation view, see :meth:`cl_methods.Method.eval_model`) serves
classification through ``predict_logits(inputs, task)`` when it has one, else through
``features`` + ``cil_logits``/``til_logits`` (:class:`.backbones.ClassifierModel`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm

from ..evaluation import GenerationEvaluator
from ..trainer.results import TaskScore
from .probing import PROBES, fit_probes, probe_predict
from .scenarios import LabelSpace, check_il_mode

MakeInputs = Callable[[list[Any]], dict[str, torch.Tensor]]


def predict_logits(model: nn.Module, inputs: dict[str, torch.Tensor], task: int | None):
    """CIL logits (``task`` None) or task ``task``'s TIL logits."""
    custom = getattr(model, "predict_logits", None)
    if callable(custom):
        return custom(inputs, task)
    features = model.features(**inputs)
    return model.cil_logits(features) if task is None else model.til_logits(features, task)


@dataclass
class ClassificationEvaluator:
    """``evaluate(model, task, accelerator)`` for head-based classification.

    make_inputs: examples -> model inputs (``input_ids``, ``attention_mask``, ...).
    label_of: example -> global (CIL) label.
    task_names: the stream's task names in order (a task's index is its column).
    train_of: task -> its training examples (needed only with ``probe``).
    """

    make_inputs: MakeInputs
    label_of: Callable[[Any], int]
    labels: LabelSpace
    task_names: Sequence[str]
    il_mode: str = "CIL"
    batch_size: int = 32
    examples_attr: str = "test"
    max_examples: int | None = None
    probe: bool = False
    probe_epochs: int = 20
    train_of: Callable[[Any], Sequence[Any]] | None = None
    tasks: Sequence[Any] = ()
    seed: int = 1
    progress: bool = False
    _probe_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.il_mode = check_il_mode(self.il_mode)
        if self.il_mode == "IIL":
            raise ValueError("IIL is evaluated by generation (IILEvaluator), not by heads")

    def _examples(self, task: Any) -> Sequence[Any]:
        data = getattr(task, self.examples_attr, None)
        if data is None:
            raise ValueError(f"task {task.name!r} has no {self.examples_attr!r} examples")
        return data if self.max_examples is None else data[: self.max_examples]

    def _batches(self, examples: Sequence[Any], device: torch.device):
        for start in range(0, len(examples), self.batch_size):
            rows = list(examples[start : start + self.batch_size])
            inputs = self.make_inputs(rows)
            yield rows, {k: v.to(device) for k, v in inputs.items() if torch.is_tensor(v)}

    @torch.no_grad()
    def features_of(self, model: nn.Module, examples: Sequence[Any], device) -> torch.Tensor:
        feats = [
            model.features(**inputs).float().cpu() for _, inputs in self._batches(examples, device)
        ]
        return torch.cat(feats) if feats else torch.zeros(0)

    def __call__(self, model: nn.Module, task: Any, acc: Accelerator) -> TaskScore:
        j = list(self.task_names).index(task.name)
        examples = self._examples(task)
        til = self.il_mode == "TIL"
        offset = self.labels.pre_accum[j] if til else 0
        correct, records = 0, []
        bar = tqdm(
            list(self._batches(examples, acc.device)),
            desc=f"eval {task.name}",
            leave=False,
            disable=not self.progress,
        )
        for rows, inputs in bar:
            pred = predict_logits(model, inputs, j if til else None).argmax(dim=-1).tolist()
            for ex, p in zip(rows, pred, strict=True):
                gold = int(self.label_of(ex)) - offset
                correct += int(p == gold)
                records.append(
                    {
                        "index": len(records),
                        "prediction": int(p),
                        "gold": gold,
                        "correct": p == gold,
                    }
                )
        total = len(records)
        extra = self._probe_scores(model, j, examples, acc.device) if self.probe else {}
        score = 100.0 * correct / total if total else 0.0
        return TaskScore(
            score=score, correct=correct, total=total, predictions=records, extra=extra
        )

    # -- linear probing ------------------------------------------------------------------------
    def _probe_scores(self, model: nn.Module, j: int, examples, device) -> dict[str, float]:
        if self.train_of is None or not self.tasks:
            raise ValueError("probing needs `tasks` and `train_of` (the seen tasks' train sets)")
        seen = int(getattr(model, "current_task", j))
        if j == 0 or self._probe_cache.get("seen") != seen:  # a new row of R: refit
            self._probe_cache = {"seen": seen, "probes": self._fit(model, seen, device)}
        probes = self._probe_cache["probes"]
        feats = self.features_of(model, examples, device)
        gold = torch.tensor([int(self.label_of(ex)) for ex in examples])
        out = {}
        if self.il_mode == "TIL":
            gold, table = gold - self.labels.pre_accum[j], probes[j]
        else:
            table = probes["cil"]
        for name in PROBES:
            pred = probe_predict(table[name], feats)
            out[f"probe_{name}"] = (
                100.0 * float((pred == gold).float().mean()) if len(gold) else 0.0
            )
        return out

    def _fit(self, model: nn.Module, seen: int, device) -> dict[Any, Any]:
        feats, labels = [], []
        for t in range(seen + 1):
            train = list(self.train_of(self.tasks[t]))
            feats.append(self.features_of(model, train, device))
            labels.append(torch.tensor([int(self.label_of(ex)) for ex in train]))
        if self.il_mode == "TIL":
            return {
                t: fit_probes(
                    feats[t],
                    labels[t] - self.labels.pre_accum[t],
                    self.labels.cur_num_class[t],
                    epochs=self.probe_epochs,
                    seed=self.seed,
                )
                for t in range(seen + 1)
            }
        return {
            "cil": fit_probes(
                torch.cat(feats),
                torch.cat(labels),
                self.labels.accum[seen],
                epochs=self.probe_epochs,
                seed=self.seed,
            )
        }


@dataclass
class IILEvaluator:
    """Generation + exact match on the test split (score) and the training split
    (``extra["train_score"]``, memorisation)."""

    test: GenerationEvaluator
    train: GenerationEvaluator | None = None

    def __call__(self, model: nn.Module, task: Any, acc: Accelerator) -> TaskScore:
        score = self.test(model, task, acc)
        if self.train is not None:
            mem = self.train(model, task, acc)
            score.extra = {
                **score.extra,
                "train_score": mem.score,
                "train_correct": float(mem.correct or 0),
                "train_total": float(mem.total or 0),
            }
        return score

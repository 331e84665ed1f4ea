"""Batched greedy generation for evaluation, sharded over processes and gathered.

The evaluator knows nothing of any benchmark: it takes a task's evaluation examples, a function
that turns a list of them into model inputs plus gold strings, and a function that says whether a
prediction matches its gold (e.g. cl-eval's exact match).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch import nn
from tqdm.auto import tqdm

from .adapters.inject import unwrap_model
from .trainer.results import TaskScore

MakeBatch = Callable[[list[Any]], tuple[dict[str, torch.Tensor], list[str]]]


@dataclass
class GenerationEvaluator:
    """``evaluate(model, task, accelerator)`` for the trainer.

    tokenizer: decodes the generated ids (special tokens skipped, whitespace stripped).
    make_batch: list of examples -> (model inputs with ``input_ids``/``attention_mask``, golds).
        For decoder-only models the inputs must be left-padded prompts.
    match: ``match(prediction, gold) -> bool``.
    examples_attr: attribute of the task holding its evaluation examples (default ``"test"``).
    max_examples: evaluate only the first N examples (None: all).
    prepare: ``prepare(task_name, examples) -> examples`` before batching (a method's
        ``eval_examples``: ICL attaches demonstrations), or None.
    stop: a string that ends a generated answer besides eos (a method's ``eval_stop``), or None.
    """

    tokenizer: Any
    make_batch: MakeBatch
    match: Callable[[str, str], bool]
    max_new_tokens: int = 50
    batch_size: int = 32
    examples_attr: str = "test"
    max_examples: int | None = None
    progress: bool = True
    prepare: Callable[[str, Sequence[Any]], Sequence[Any]] | None = None
    stop: str | None = None

    def examples(self, task: Any) -> Sequence[Any]:
        data = getattr(task, self.examples_attr, None)
        if data is None and getattr(task, "eval", None) is not None:
            data = task.eval
        if data is None:
            raise ValueError(f"task {task.name!r} has no {self.examples_attr!r} examples")
        return data if self.max_examples is None else data[: self.max_examples]

    @torch.no_grad()
    def predict(
        self, model: nn.Module, examples: Sequence[Any], acc: Accelerator
    ) -> list[tuple[str, str]]:
        """``(prediction, gold)`` for ``examples`` in order (each process generates a shard)."""
        model = unwrap_model(model)
        mine = list(range(acc.process_index, len(examples), acc.num_processes))
        decoder_only = not getattr(model.config, "is_encoder_decoder", False)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id
        out: list[tuple[int, str, str]] = []
        chunks = range(0, len(mine), self.batch_size)
        bar = tqdm(
            chunks,
            desc="generate",
            leave=False,
            disable=not (self.progress and acc.is_local_main_process),
        )
        for start in bar:
            idx = mine[start : start + self.batch_size]
            inputs, golds = self.make_batch([examples[i] for i in idx])
            inputs = {k: v.to(acc.device) for k, v in inputs.items() if torch.is_tensor(v)}
            with acc.autocast():
                generated = model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=pad_id,
                )
            if decoder_only:  # keep only the continuation, never re-split the prompt text
                generated = generated[:, inputs["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            if self.stop:
                texts = [t.lstrip().split(self.stop)[0] for t in texts]  # leading stops skipped
            out.extend(zip(idx, (t.strip() for t in texts), golds, strict=True))
        if acc.num_processes > 1:
            out = gather_object(out)
        by_index = {i: (pred, gold) for i, pred, gold in out}
        return [by_index[i] for i in range(len(examples))]

    def __call__(self, model: nn.Module, task: Any, acc: Accelerator) -> TaskScore:
        examples = self.examples(task)
        if self.prepare is not None:
            examples = self.prepare(task.name, examples)
        pairs = self.predict(model, examples, acc)
        preds, golds = [p for p, _ in pairs], [g for _, g in pairs]
        hits = [bool(self.match(p, g)) for p, g in pairs]
        total = len(hits)
        correct = sum(hits)
        records = [
            {"index": i, "prediction": p, "gold": g, "correct": h}
            for i, (p, g, h) in enumerate(zip(preds, golds, hits, strict=True))
        ]
        score = 100.0 * correct / total if total else 0.0
        return TaskScore(score=score, correct=correct, total=total, predictions=records)

"""LAMOL-format batches (spec classic-methods.md 2.4): no dataset template, two sequences per row.

- QA:  ``x ANS " y" eos``, labels on ``" y" eos``;
- GEN: ``G x ANS " y" eos``, labels on everything after ``G``;
- eval prompt: ``x ANS``.

A row is a mapping with ``input`` (x) and ``target`` (y); ``gen_task`` (the task whose generation
token starts the GEN sequence; default 0, the only one of the shared-token variant) and
``is_pseudo`` (a generated row) are optional. Ids are concatenated piece by piece (x, ANS and
``" y"`` are tokenised separately, never as one string), padding is on the left with eos as pad,
``position_ids`` count from the first real token (as ``generate`` counts them), and an over-long
row loses tokens from the left of x, never the answer (spec 0). QA and GEN are padded to one
common width, so a method can run both in one forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .tokens import LamolTokens

IGNORE = -100


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions counted from the first attended token (0 on the left pads)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def left_pad(seqs: Sequence[list[int]], value: int, width: int) -> torch.Tensor:
    return torch.tensor([[value] * (width - len(s)) + list(s) for s in seqs], dtype=torch.long)


@dataclass
class LamolCollator:
    """Rows -> a LAMOL batch: ``input_ids``/``attention_mask``/``position_ids``/``labels`` (QA),
    the same four with a ``gen_`` prefix (GEN), and ``is_pseudo`` (bool per row).
    ``generation_batch(rows)`` gives the evaluation prompts ``x ANS`` and the gold targets."""

    tokenizer: Any
    tokens: LamolTokens
    max_length: int = 128

    def __post_init__(self) -> None:
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ValueError(f"tokenizer {type(self.tokenizer).__name__} has no eos token")
        self.eos_id = int(eos)
        if self.max_length < 4:
            raise ValueError(f"max_length must be at least 4, got {self.max_length}")

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def answer_ids(self, target: str) -> list[int]:
        """``" y" eos``, cut so that G, one token of x and ANS still fit."""
        return ([*self.ids(" " + str(target)), self.eos_id])[-(self.max_length - 3) :]

    def source_ids(self, text: str, budget: int) -> list[int]:
        ids = self.ids(str(text))
        return ids[len(ids) - budget :] if len(ids) > budget else ids

    def encode(self, row: Any) -> dict[str, list[int]]:
        """QA and GEN ids and labels of one row."""
        answer = self.answer_ids(row["target"])
        source = self.source_ids(row["input"], self.max_length - len(answer) - 2)
        gen = self.tokens.gen_id(int(row.get("gen_task") or 0))
        qa = [*source, self.tokens.ans_id, *answer]
        qa_labels = [IGNORE] * (len(source) + 1) + answer
        return {
            "qa": qa,
            "qa_labels": qa_labels,
            "gen": [gen, *qa],
            "gen_labels": [IGNORE, *qa],
        }

    def __call__(self, rows: Sequence[Any]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("LamolCollator: empty batch")
        enc = [self.encode(r) for r in rows]
        width = max(len(e["gen"]) for e in enc)
        batch: dict[str, torch.Tensor] = {}
        for prefix, key in (("", "qa"), ("gen_", "gen")):
            seqs = [e[key] for e in enc]
            mask = left_pad([[1] * len(s) for s in seqs], 0, width)
            batch[prefix + "input_ids"] = left_pad(seqs, self.eos_id, width)
            batch[prefix + "attention_mask"] = mask
            batch[prefix + "position_ids"] = position_ids(mask)
            batch[prefix + "labels"] = left_pad([e[key + "_labels"] for e in enc], IGNORE, width)
        batch["is_pseudo"] = torch.tensor([bool(r.get("is_pseudo", False)) for r in rows])
        return batch

    def prompt_ids(self, text: str) -> list[int]:
        """The evaluation prompt ``x ANS`` (x cut from the left to ``max_length - 1`` tokens)."""
        return [*self.source_ids(text, self.max_length - 1), self.tokens.ans_id]

    def generation_batch(self, rows: Sequence[Any]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Left-padded prompts ``x ANS`` and the gold targets (for ``GenerationEvaluator``)."""
        ids = [self.prompt_ids(r["input"]) for r in rows]
        width = max(len(i) for i in ids)
        mask = left_pad([[1] * len(i) for i in ids], 0, width)
        inputs = {"input_ids": left_pad(ids, self.eos_id, width), "attention_mask": mask}
        return inputs, [str(r["target"]) for r in rows]

"""Padding helpers and the generation batch shared by the seq2seq and causal-LM encoders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

IGNORE_INDEX = -100
Side = Literal["left", "right"]


def padded_length(lengths: Sequence[int], multiple: int | None) -> int:
    """The longest length, rounded up to a multiple of `multiple` when given."""
    longest = max(lengths, default=0)
    if multiple and longest % multiple:
        longest += multiple - longest % multiple
    return longest


def pad(
    rows: Sequence[Sequence[int]], value: int, side: Side, multiple: int | None = None
) -> torch.Tensor:
    """A `[len(rows), L]` long tensor of the rows padded with `value` on `side`."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    width = padded_length([len(r) for r in rows], multiple)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        values = torch.as_tensor(list(row), dtype=torch.long)
        if side == "right":
            out[i, : len(row)] = values
        else:
            out[i, width - len(row) :] = values
    return out


def check_multiple(value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"pad_to_multiple_of must be a positive integer or None, got {value!r}")


def resolve_pad_id(tokenizer: Any, explicit: int | None) -> int:
    """The pad id: `explicit`, else the tokenizer's pad token, else its EOS token."""
    for candidate in (explicit, tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    raise ValueError(
        f"{type(tokenizer).__name__} has neither a pad nor an EOS token; pass pad_token_id"
    )


def eos_id(tokenizer: Any) -> int:
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no EOS token; the encoders need one")
    return int(tokenizer.eos_token_id)


@dataclass
class GenerationBatch:
    """Prompt-only inputs for `model.generate`, with the gold target strings.

    For causal LMs the prompts are left-padded, so every continuation starts at column
    `input_ids.shape[1]` of the generated ids.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    gold: list[str]
    sources: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """The keyword arguments for `model.generate(**batch.model_inputs(), ...)`."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}

    def to(self, device: torch.device | str) -> GenerationBatch:
        """A copy with the tensors on `device`."""
        return GenerationBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.gold,
            self.sources,
            self.tasks,
            self.ids,
        )

    def __len__(self) -> int:
        return len(self.gold)


class BaseEncoder:
    """What both encoders share: encoding many examples and cutting generation batches."""

    tokenizer: Any

    def encode(self, source: str, target: str) -> dict[str, list[int]]:
        raise NotImplementedError

    def generation_batch(self, examples: Sequence[Any]) -> GenerationBatch:
        raise NotImplementedError

    def encode_all(self, examples: Sequence[Any], desc: str = "encoding") -> list[dict]:
        """`encode` every example (objects with `.source` and `.target`, e.g. Prompted)."""
        from tqdm.auto import tqdm

        return [
            self.encode(ex.source, ex.target)
            for ex in tqdm(examples, desc=desc, unit="ex", disable=None, leave=False)
        ]

    def generation_batches(self, examples: Sequence[Any], batch_size: int) -> list[GenerationBatch]:
        """Consecutive generation batches of at most `batch_size` examples, in input order."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return [
            self.generation_batch(examples[start : start + batch_size])
            for start in range(0, len(examples), batch_size)
        ]


def batch_metadata(examples: Sequence[Any]) -> dict[str, list[str]]:
    """gold/sources/tasks/ids lists of a generation batch."""
    return {
        "gold": [ex.target for ex in examples],
        "sources": [ex.source for ex in examples],
        "tasks": [getattr(ex, "task", "") for ex in examples],
        "ids": [getattr(ex, "id", "") for ex in examples],
    }

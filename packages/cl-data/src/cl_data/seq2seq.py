"""Seq2seq (T5-style) encoding: source -> encoder input, target + EOS -> labels (pads = -100)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from cl_data.batching import (
    IGNORE_INDEX,
    BaseEncoder,
    GenerationBatch,
    batch_metadata,
    check_multiple,
    eos_id,
    pad,
    resolve_pad_id,
)


@dataclass
class Seq2SeqEncoder(BaseEncoder):
    """Encoder for encoder-decoder models; works with any Hugging Face tokenizer.

    Source: the tokenizer's own encoding (T5 appends `</s>`), cut to `max_source_length`.
    Target: its tokens cut to `max_target_length - 1`, then EOS (as T5's tokenizer does).
    Batches are right-padded with the pad id; labels are padded with -100.
    Defaults follow the benchmark: source 512, target 50 (Recurrent-KIF's T5: 1024, 128, 8).
    """

    tokenizer: Any
    max_source_length: int = 512
    max_target_length: int = 50
    pad_to_multiple_of: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.max_source_length < 1:
            raise ValueError(f"max_source_length must be >= 1, got {self.max_source_length}")
        if self.max_target_length < 1:
            raise ValueError(
                f"max_target_length must be >= 1 (it includes EOS), got {self.max_target_length}"
            )
        check_multiple(self.pad_to_multiple_of)
        self._eos = eos_id(self.tokenizer)
        self._pad = resolve_pad_id(self.tokenizer, self.pad_token_id)

    def source_ids(self, source: str) -> list[int]:
        return list(
            self.tokenizer(source, truncation=True, max_length=self.max_source_length)["input_ids"]
        )

    def target_ids(self, target: str) -> list[int]:
        ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
        return [*ids[: self.max_target_length - 1], self._eos]

    def encode(self, source: str, target: str) -> dict[str, list[int]]:
        """One training example: input_ids, attention_mask, labels (unpadded lists)."""
        input_ids = self.source_ids(source)
        return {
            "input_ids": input_ids,
            "attention_mask": [1] * len(input_ids),
            "labels": self.target_ids(target),
        }

    def collate(self, features: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        """Pad encoded examples to one batch (right padding; labels padded with -100)."""
        multiple = self.pad_to_multiple_of
        return {
            "input_ids": pad([f["input_ids"] for f in features], self._pad, "right", multiple),
            "attention_mask": pad([f["attention_mask"] for f in features], 0, "right", multiple),
            "labels": pad([f["labels"] for f in features], IGNORE_INDEX, "right", multiple),
        }

    def generation_batch(self, examples: Sequence[Any]) -> GenerationBatch:
        """Encoder inputs of `examples` (objects with `.source`/`.target`) and their gold."""
        rows = [self.source_ids(ex.source) for ex in examples]
        multiple = self.pad_to_multiple_of
        return GenerationBatch(
            input_ids=pad(rows, self._pad, "right", multiple),
            attention_mask=pad([[1] * len(r) for r in rows], 0, "right", multiple),
            **batch_metadata(examples),
        )

    def decode(self, generated: torch.Tensor, batch: GenerationBatch | None = None) -> list[str]:
        """Predictions from `model.generate` output: special tokens removed, whitespace stripped."""
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return [text.strip() for text in texts]

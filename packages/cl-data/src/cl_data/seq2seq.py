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
from cl_data.truncation import (
    Truncation,
    check_right_truncation,
    check_truncation,
    released_source_ids,
)


@dataclass
class Seq2SeqEncoder(BaseEncoder):
    """Encoder for encoder-decoder models; works with any Hugging Face tokenizer.

    Source: the tokenizer's own encoding (T5 appends `</s>`), at most `max_source_length` ids
    (`None`: no limit, e.g. for evaluation as Recurrent-KIF's release does it).
    Target: its tokens cut to `max_target_length - 1`, then EOS (as T5's tokenizer does).
    Batches are right-padded with the pad id; labels are padded with -100.
    Defaults follow the benchmark: source 512, target 50 (Recurrent-KIF's T5: 1024, 128, 8).

    `truncation` says how a source longer than `max_source_length` is shortened:
    - `"cut"` (default): the tokenizer cuts the ids (`truncation=True`): the first
      `max_source_length - 1` tokens, then EOS, as Recurrent-KIF's release trains.
    - `"released"`: as the O-LoRA / N-LoRA releases' collator (:mod:`cl_data.truncation`): the first
      `max_source_length` ids are decoded to text with special tokens skipped, and that text is
      tokenised again with `truncation=True, max_length=max_source_length`, in training and in
      evaluation. The text is re-tokenised, so the ids can differ from a cut.

    DECISION: the O-LoRA and N-LoRA apps' presets use `"released"`, the releases' behaviour and so
    the one behind the published numbers; the encoder's own default stays the plain cut (the
    behaviour it always had, which the other apps keep). The decode step uses
    `clean_up_tokenization_spaces=decode_clean_up`; its default `True` is what T5's tokenizer did
    under transformers 4.28, the version both releases pin (it turns "word ." into "word.");
    `None` keeps the tokenizer's own setting (transformers 5 turned it off). Labels are encoded
    alike in both modes: for T5-style tokenizers, which append EOS, the release's
    `tok(target, max_length=max_target_length, truncation=True)` gives the same ids.
    """

    tokenizer: Any
    max_source_length: int | None = 512
    max_target_length: int = 50
    pad_to_multiple_of: int | None = None
    pad_token_id: int | None = None
    truncation: Truncation = "cut"
    decode_clean_up: bool | None = True

    def __post_init__(self) -> None:
        check_truncation(self.truncation)
        if self.truncation == "released":
            check_right_truncation(self.tokenizer)
        if self.max_source_length is not None and self.max_source_length < 1:
            raise ValueError(f"max_source_length must be >= 1, got {self.max_source_length}")
        if self.max_target_length < 1:
            raise ValueError(
                f"max_target_length must be >= 1 (it includes EOS), got {self.max_target_length}"
            )
        check_multiple(self.pad_to_multiple_of)
        self._eos = eos_id(self.tokenizer)
        self._pad = resolve_pad_id(self.tokenizer, self.pad_token_id)

    def source_ids(self, source: str) -> list[int]:
        """Encoder input ids of `source`, shortened as `truncation` says."""
        limit = self.max_source_length
        if limit is None:
            return list(self.tokenizer(source)["input_ids"])
        if self.truncation == "released":
            return released_source_ids(self.tokenizer, source, limit, self.decode_clean_up)
        return list(self.tokenizer(source, truncation=True, max_length=limit)["input_ids"])

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

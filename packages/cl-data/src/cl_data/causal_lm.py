"""Causal-LM encoding: `bos + source + target + eos`, loss on target + EOS only.

With `truncation="cut"` (the default) the prompt (`bos + source`) is cut by one rule that does not
look at the target, so a training sequence always starts with exactly the prompt that generation
feeds the model; the target is never dropped (only the source is cut). BOS is attended in training
and in generation alike. `truncation="released"` reproduces the O-LoRA / N-LoRA releases' collator
instead (see :class:`CausalLMEncoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from cl_data.batching import (
    IGNORE_INDEX,
    BaseEncoder,
    GenerationBatch,
    Side,
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
    released_prompt_ids,
    released_training_ids,
)


@dataclass
class CausalLMEncoder(BaseEncoder):
    """Encoder for decoder-only models; works with any Hugging Face tokenizer.

    Lengths: the prompt (BOS + source tokens) holds at most `max_source_length` tokens, the answer
    (target tokens + EOS) at most `max_target_length`; with `max_length` set, the prompt is further
    cut to `max_length - max_target_length` so a whole sequence never exceeds `max_length`.
    `truncation_side` says which end of the source is cut ("left" keeps the end, where the
    question and "Answer:" are). Generation batches are always left-padded. Training batches are
    right-padded by default; `train_padding_side="left"` (the Recurrent-KIF recipe) also returns
    `position_ids` counted from the first real token, so positions match generation.
    `pad_token_id` defaults to the tokenizer's pad token, else its EOS token.
    `max_source_length=None` puts no limit on the prompt (Recurrent-KIF's release evaluates uncut).

    `truncation="released"` follows the O-LoRA / N-LoRA releases' collator
    (:mod:`cl_data.truncation`), with strings as it builds them: prompt = `bos_token + source`,
    answer = `target + eos_token`, each tokenised with the tokenizer's own special tokens (a
    LLaMA-style tokenizer that prepends BOS therefore starts every row with two BOS tokens, as the
    release's did). Training: prompt + answer is limited to `max_source_length +
    max_target_length` ids by decoding the first that-many ids with special tokens kept; the row is
    tokenised again with `truncation=True, max_length=max_source_length`, which can cut the answer
    (or all of it); the loss covers the positions that the release's mask, computed from the
    lengths before that cut, leaves on. Evaluation: the prompt alone is limited to
    `max_source_length` the same way. Both cuts keep the beginning (the tokenizer's right-side
    truncation; `truncation_side` and `max_length` apply to `"cut"` only). Pass
    `train_padding_side="left"` for the release's left padding.

    DECISION: the O-LoRA and N-LoRA apps' presets use `"released"`, the behaviour behind the
    published numbers; the encoder's own default stays the plain cut. The release builds its loss
    mask per batch, anchored on the batch's longest row before the second tokenisation: in a batch
    that mixes a row cut by `max_source_length` with shorter rows, the shorter rows lose the loss on
    their first answer tokens. We compute every row's mask as the release does for a batch that
    holds that row alone, which is exactly O-LoRA's LLaMA recipe (one row per device) and makes a
    row's loss independent of its batch-mates; N-LoRA's LLaMA scripts used 4-6 rows per device,
    where mixed batches differ as described. The decode step uses
    `clean_up_tokenization_spaces=decode_clean_up`; the default `False` is LLaMA's tokenizer
    setting; `None` keeps the tokenizer's own.
    """

    tokenizer: Any
    max_source_length: int | None = 512
    max_target_length: int = 50
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    truncation_side: Side = "left"
    train_padding_side: Side = "right"
    add_bos: bool = True
    pad_token_id: int | None = None
    truncation: Truncation = "cut"
    decode_clean_up: bool | None = False

    def __post_init__(self) -> None:
        check_truncation(self.truncation)
        if self.truncation == "released":
            check_right_truncation(self.tokenizer)
            if self.max_length is not None or self.max_source_length is None:
                raise ValueError(
                    "truncation='released' limits a row to max_source_length tokens: give "
                    f"max_source_length (got {self.max_source_length}) and no max_length "
                    f"(got {self.max_length})"
                )
        bos = self.tokenizer.bos_token_id if self.add_bos else None
        self._bos = [] if bos is None else [int(bos)]
        self._bos_text = (self.tokenizer.bos_token or "") if self._bos else ""
        self._eos = eos_id(self.tokenizer)
        self._pad = resolve_pad_id(self.tokenizer, self.pad_token_id)
        check_multiple(self.pad_to_multiple_of)
        for name in ("truncation_side", "train_padding_side"):
            if getattr(self, name) not in ("left", "right"):
                raise ValueError(f"{name} must be 'left' or 'right', got {getattr(self, name)!r}")
        if self.max_target_length < 1:
            raise ValueError(
                f"max_target_length must be >= 1 (it includes EOS), got {self.max_target_length}"
            )
        budget = self.prompt_budget
        if budget is not None and budget < len(self._bos) + 1:
            raise ValueError(
                f"no room for the source: max_source_length={self.max_source_length}, "
                f"max_length={self.max_length}, max_target_length={self.max_target_length} "
                f"leave {budget} prompt tokens, BOS included"
            )

    @property
    def prompt_budget(self) -> int | None:
        """The most tokens a prompt (BOS included) may hold (None: no limit)."""
        budget = self.max_source_length
        if self.max_length is not None:
            room = self.max_length - self.max_target_length
            budget = room if budget is None else min(budget, room)
        return budget

    def prompt_ids(self, source: str) -> list[int]:
        """The prompt of `source` as generation sees it: `cut`: BOS + source tokens, the source
        cut on `truncation_side` to fit the budget; `released`: the release's evaluation rows."""
        budget = self.prompt_budget
        if self.truncation == "released":
            return released_prompt_ids(
                self.tokenizer, self._bos_text, source, budget, self.decode_clean_up
            )
        ids = self.tokenizer(source, add_special_tokens=False)["input_ids"]
        room = None if budget is None else budget - len(self._bos)
        if room is not None and len(ids) > room:
            ids = ids[len(ids) - room :] if self.truncation_side == "left" else ids[:room]
        return [*self._bos, *ids]

    def answer_ids(self, target: str) -> list[int]:
        """Target tokens + EOS, at most `max_target_length` tokens."""
        ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
        return [*ids[: self.max_target_length - 1], self._eos]

    def encode(self, source: str, target: str) -> dict[str, list[int]]:
        """One training sequence; labels are -100 on the prompt (BOS included)."""
        if self.truncation == "released":
            ids, start = released_training_ids(
                self.tokenizer,
                self._bos_text,
                source,
                target,
                self.max_source_length,
                self.max_target_length,
                self.decode_clean_up,
            )
            return {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "labels": [IGNORE_INDEX] * min(start, len(ids)) + ids[start:],
            }
        prompt = self.prompt_ids(source)
        answer = self.answer_ids(target)
        return {
            "input_ids": prompt + answer,
            "attention_mask": [1] * (len(prompt) + len(answer)),
            "labels": [IGNORE_INDEX] * len(prompt) + answer,
        }

    def collate(self, features: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        """Pad training sequences to one batch on `train_padding_side` (labels padded -100)."""
        side, multiple = self.train_padding_side, self.pad_to_multiple_of
        batch = {
            "input_ids": pad([f["input_ids"] for f in features], self._pad, side, multiple),
            "attention_mask": pad([f["attention_mask"] for f in features], 0, side, multiple),
            "labels": pad([f["labels"] for f in features], IGNORE_INDEX, side, multiple),
        }
        if side == "left":
            batch["position_ids"] = position_ids(batch["attention_mask"])
        return batch

    def generation_batch(self, examples: Sequence[Any]) -> GenerationBatch:
        """Left-padded prompts of `examples` (objects with `.source`/`.target`) and their gold."""
        rows = [self.prompt_ids(ex.source) for ex in examples]
        multiple = self.pad_to_multiple_of
        return GenerationBatch(
            input_ids=pad(rows, self._pad, "left", multiple),
            attention_mask=pad([[1] * len(r) for r in rows], 0, "left", multiple),
            **batch_metadata(examples),
        )

    def decode(self, generated: torch.Tensor, batch: GenerationBatch) -> list[str]:
        """The continuations only (columns after the prompt), cut at the first EOS, stripped."""
        start = batch.input_ids.shape[1]
        texts = []
        for row in generated[:, start:].tolist():
            if self._eos in row:
                row = row[: row.index(self._eos)]
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted from each row's first attended token (0 on left pads)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

"""Locate a probe's object tokens (spec §8 "Object finder", decision D7).

The object is tokenised without special tokens and searched in the probe's ids; the *last*
occurrence starting at s >= 1 wins. The prediction indices are T = {s-1, ..., s+|o|-2}: the
positions whose next-token prediction is an object token. SentencePiece tokenisers (Llama) put a
leading "▁" on the object, which matches an object that follows a space; byte-level BPE tokenisers
(GPT-2 style) mark that space differently, so the finder also tries the object with a leading space.
A missing object raises :class:`ObjectNotFoundError` instead of giving an all-zero mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class ObjectNotFoundError(ValueError):
    """The object's tokens do not occur (at s >= 1) in the text's token ids."""

    def __init__(self, text: str, object: str, detail: str = "") -> None:
        self.text = text
        self.object = object
        shown = text if len(text) <= 300 else text[:300] + "..."
        extra = f" ({detail})" if detail else ""
        super().__init__(f"object {object!r} not found at token level in {shown!r}{extra}")


@dataclass(frozen=True)
class ObjectSpan:
    """Object tokens at ``ids[start : start + length]``."""

    start: int
    length: int

    @property
    def prediction_indices(self) -> range:
        """Positions t whose target x_{t+1} is an object token."""
        return range(self.start - 1, self.start + self.length - 1)

    def target_mask(self, seq_len: int) -> list[int]:
        """A 0/1 list over the seq_len - 1 prediction positions, 1 on the object's indices."""
        if self.start + self.length > seq_len:
            raise ValueError(f"span {self} does not fit a sequence of length {seq_len}")
        mask = [0] * (seq_len - 1)
        for t in self.prediction_indices:
            mask[t] = 1
        return mask


def _as_list(ids: Any) -> list[int]:
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    out = list(ids)
    if out and isinstance(out[0], list):
        raise ValueError("expected the token ids of one sequence, got a batch")
    return [int(i) for i in out]


def _encode(tokenizer: Any, text: str) -> list[int]:
    return _as_list(tokenizer(text, add_special_tokens=False)["input_ids"])


def object_token_variants(tokenizer: Any, object: str) -> list[list[int]]:
    """The object's token ids as the finder tries them: as is, then after a space (leading
    whitespace-only tokens dropped). Duplicates and empty encodings are removed."""
    variants = [_encode(tokenizer, object)]
    spaced = _encode(tokenizer, " " + object)
    while spaced and tokenizer.decode([spaced[0]]).strip() == "" and len(spaced) > 1:
        spaced = spaced[1:]
    variants.append(spaced)
    out: list[list[int]] = []
    for v in variants:
        if v and v not in out:
            out.append(v)
    return out


def find_last_subsequence(ids: Sequence[int], pattern: Sequence[int], min_start: int = 1) -> int:
    """The largest s >= min_start with ids[s:s+len(pattern)] == pattern, or -1."""
    n, k = len(ids), len(pattern)
    if k == 0:
        return -1
    first = pattern[0]
    for s in range(n - k, min_start - 1, -1):
        if ids[s] == first and list(ids[s : s + k]) == list(pattern):
            return s
    return -1


def locate_object(
    tokenizer: Any, input_ids: Any, object: str, text: str | None = None
) -> ObjectSpan:
    """Find the last occurrence (s >= 1) of the object's tokens in ``input_ids``.

    ``text`` is only used in the error message (defaults to the decoded ids).
    """
    ids = _as_list(input_ids)
    best: ObjectSpan | None = None
    for pattern in object_token_variants(tokenizer, object):
        s = find_last_subsequence(ids, pattern)
        if s >= 1 and (best is None or s > best.start):
            best = ObjectSpan(s, len(pattern))
    if best is None:
        shown = text if text is not None else tokenizer.decode(ids)
        raise ObjectNotFoundError(shown, object)
    return best


def object_target_mask(
    tokenizer: Any, input_ids: Any, object: str, text: str | None = None
) -> list[int]:
    """0/1 over the len(input_ids) - 1 prediction positions, 1 on the object's indices T."""
    ids = _as_list(input_ids)
    return locate_object(tokenizer, ids, object, text).target_mask(len(ids))

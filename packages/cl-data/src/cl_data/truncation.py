"""Long inputs as the O-LoRA / N-LoRA releases' collator handles them (`truncation="released"`).

Both releases share one collator (`src/uie_collator.py`, identical in the two repositories). It does
not cut token ids: it cuts, decodes the kept ids back to text, and tokenises that text again, so the
ids a model sees can differ from a plain cut (the decoded text is normalised by the tokenizer's
decoder and `clean_up_tokenization_spaces`, characters the vocabulary lacks are dropped, special
tokens are kept or dropped). The functions below redo those steps with any Hugging Face tokenizer;
the encoders (:mod:`cl_data.seq2seq`, :mod:`cl_data.causal_lm`) call them and state the decisions.

Encoder-decoder (T5), training and evaluation alike::

    ids = tok(source)                                  # T5 appends </s>
    if len(ids) > max_source:
        source = tok.decode(ids[:max_source], skip_special_tokens=True)
    input_ids = tok(source, truncation=True, max_length=max_source)   # ends with </s> again

Decoder-only (LLaMA), training::

    text, answer = bos_token + source, target + eos_token              # strings
    p, a = tok(text), tok(answer)                      # the tokenizer's own special tokens too
    limit = max_source + max_target
    if len(p) + len(a) <= limit: text, label_len, max_len = text + answer, len(a), len(p) + len(a)
    else: text = tok.decode((p + a)[:limit], skip_special_tokens=False)
          label_len, max_len = max(0, limit - len(p)), max_source
    input_ids = tok(text, truncation=True, max_length=max_source)     # may cut the answer
    loss on the tokens after column max_len - label_len - 1 (the mask was computed before the cut)

Decoder-only, evaluation: the same with the prompt alone and `limit = max_source`.
"""

from __future__ import annotations

from typing import Any, Literal

Truncation = Literal["released", "cut"]
TRUNCATIONS: tuple[str, ...] = ("released", "cut")


def check_truncation(value: str) -> None:
    if value not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {', '.join(TRUNCATIONS)}; got {value!r}")


def check_right_truncation(tokenizer: Any) -> None:
    """The release's second tokenisation cuts on the right (the tokenizer default)."""
    side = getattr(tokenizer, "truncation_side", "right")
    if side != "right":
        raise ValueError(
            f"truncation='released' re-tokenises with the tokenizer's own truncation, which the "
            f"releases ran on the right; {type(tokenizer).__name__}.truncation_side is {side!r}"
        )


def decode(tokenizer: Any, ids: list[int], *, skip_special_tokens: bool, clean_up: bool | None):
    """`tokenizer.decode`; `clean_up=None` keeps the tokenizer's own clean-up setting."""
    kwargs = {} if clean_up is None else {"clean_up_tokenization_spaces": clean_up}
    return tokenizer.decode(ids, skip_special_tokens=skip_special_tokens, **kwargs)


def retokenise(tokenizer: Any, text: str, max_length: int) -> list[int]:
    """The collator's batch call for one row: special tokens added, cut on the right."""
    return list(tokenizer(text, truncation=True, max_length=max_length)["input_ids"])


def released_source_ids(
    tokenizer: Any, source: str, max_source_length: int, clean_up: bool | None
) -> list[int]:
    """Encoder input ids of `source` (encoder-decoder path)."""
    ids = list(tokenizer(source)["input_ids"])
    if len(ids) <= max_source_length:
        return ids  # what the second tokenisation of the same text gives
    text = decode(tokenizer, ids[:max_source_length], skip_special_tokens=True, clean_up=clean_up)
    return retokenise(tokenizer, text, max_source_length)


def released_prompt_ids(
    tokenizer: Any, bos: str, source: str, max_source_length: int, clean_up: bool | None
) -> list[int]:
    """Generation prompt ids of `source` (decoder-only path, evaluation)."""
    text = bos + source
    ids = list(tokenizer(text)["input_ids"])
    if len(ids) <= max_source_length:
        return ids
    text = decode(tokenizer, ids[:max_source_length], skip_special_tokens=False, clean_up=clean_up)
    return retokenise(tokenizer, text, max_source_length)


def released_training_ids(
    tokenizer: Any,
    bos: str,
    source: str,
    target: str,
    max_source_length: int,
    max_target_length: int,
    clean_up: bool | None,
) -> tuple[list[int], int]:
    """(input ids, first position whose token is a loss target) of one training row (decoder-only
    path), as the release computes them for a batch that holds this row alone."""
    text, answer = bos + source, target + (tokenizer.eos_token or "")
    prompt_ids = list(tokenizer(text)["input_ids"])
    answer_ids = list(tokenizer(answer)["input_ids"])
    limit = max_source_length + max_target_length
    total = len(prompt_ids) + len(answer_ids)
    if total <= limit:
        text, label_len, max_len = text + answer, len(answer_ids), total
    else:
        kept = (prompt_ids + answer_ids)[:limit]
        text = decode(tokenizer, kept, skip_special_tokens=False, clean_up=clean_up)
        label_len, max_len = max(0, limit - len(prompt_ids)), max_source_length
    ids = retokenise(tokenizer, text, max_source_length)
    # The release zeroes loss_mask[:, :cut] with cut = min(max_len, limit) - label_len - 1 and
    # weights the prediction of token j + 1 by loss_mask[j]; a negative cut slices from the end.
    cut = min(max_len, limit) - label_len - 1
    zeroed = cut if cut >= 0 else max(0, len(ids) + cut)
    return ids, zeroed + 1

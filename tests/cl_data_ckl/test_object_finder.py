"""Spec checklist item 5: the object finder."""

from __future__ import annotations

import pytest

from cl_data.ckl import (
    ObjectNotFoundError,
    ObjectSpan,
    locate_object,
    object_target_mask,
    schematic_probe,
)


def ids_of(tok, text):
    return tok(text)["input_ids"]


def test_single_occurrence_and_shift(tokenizer):
    text = "Santiago is the capital of Chile ."
    ids = ids_of(tokenizer, text)
    obj = tokenizer("Chile", add_special_tokens=False)["input_ids"]
    span = locate_object(tokenizer, ids, "Chile")
    assert ids[span.start : span.start + span.length] == obj
    # prediction position t predicts x_{t+1}: T = {s-1, ..., s+|o|-2}
    assert list(span.prediction_indices) == list(range(span.start - 1, span.start + len(obj) - 1))
    mask = object_target_mask(tokenizer, ids, "Chile")
    assert len(mask) == len(ids) - 1
    assert [ids[t + 1] for t, m in enumerate(mask) if m] == obj


def test_last_of_several_occurrences(tokenizer):
    text = "Santiago lies in Chile . Santiago is the capital of Chile ."
    ids = ids_of(tokenizer, text)
    span = locate_object(tokenizer, ids, "Chile")
    obj = tokenizer("Chile", add_special_tokens=False)["input_ids"]
    occurrences = [s for s in range(1, len(ids)) if ids[s : s + len(obj)] == obj]
    assert len(occurrences) == 2
    assert span.start == occurrences[-1]


def test_multi_token_object_at_the_end(tokenizer):
    text = schematic_probe("Grace Hopper", "place of birth", "New York City")
    ids = ids_of(tokenizer, text)
    obj = tokenizer("New York City", add_special_tokens=False)["input_ids"]
    assert len(obj) > 1
    span = locate_object(tokenizer, ids, "New York City")
    assert span == ObjectSpan(len(ids) - len(obj), len(obj))
    mask = span.target_mask(len(ids))
    assert mask[-len(obj) :] == [1] * len(obj) and sum(mask) == len(obj)


def test_missing_object_raises_with_text_and_object(tokenizer):
    text = "Santiago is the capital of Chile ."
    with pytest.raises(ObjectNotFoundError) as info:
        locate_object(tokenizer, ids_of(tokenizer, text), "Brazil", text)
    assert info.value.text == text and info.value.object == "Brazil"
    assert "Brazil" in str(info.value)


def test_object_must_start_after_position_zero(tokenizer):
    # without BOS the object at position 0 has no preceding position to predict it from
    ids = tokenizer("Chile is a country", add_special_tokens=False)["input_ids"]
    with pytest.raises(ObjectNotFoundError):
        locate_object(tokenizer, ids, "Chile")


def test_byte_level_bpe_leading_space():
    """GPT-2-style tokenisers mark the preceding space inside the token ("ĠChile"); the finder
    tries the object after a space as well."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(["Santiago is the capital of Chile . Chile is long ."] * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>")
    ids = [fast.bos_token_id] + fast("Santiago is the capital of Chile .")["input_ids"]
    alone = fast("Chile", add_special_tokens=False)["input_ids"]
    spaced = fast(" Chile", add_special_tokens=False)["input_ids"]
    assert alone != spaced  # the two spellings really differ for this tokenizer
    span = locate_object(fast, ids, "Chile")
    assert ids[span.start : span.start + span.length] == spaced

"""Prompts of spec 3.3 and the answer mask of a generative training sequence."""

from __future__ import annotations

import pytest

from cl_data.batching import IGNORE_INDEX
from cl_data.byte_tokenizer import byte_level_tokenizer
from cl_data.causal_lm import CausalLMEncoder
from cl_data.classic import answer_text, build_prompt, normalise_answer, remove_entity_markers


def test_prompt_texts() -> None:
    assert build_prompt("default", "hi") == "Input sentence: hi\n The label:"
    assert build_prompt("qa", "Why?") == "Question: Why?\n Short Answer:"
    assert build_prompt("none", "raw") == "raw"
    text = "[E11] Ann [E12] met [E21] Bob [E22] ."
    assert remove_entity_markers(text) == "Ann met Bob ."
    assert build_prompt("relation_classification_state", text, e1="Ann", e2="Bob") == (
        "Input sentence: Ann met Bob .\n The relationship between Ann and Bob is"
    )
    assert build_prompt("relation_classification_no_entity", text).endswith("The relationship:")
    # without e1/e2 the entities come from the markers; without markers it is an error
    assert build_prompt("relation_classification_state", text) == (
        "Input sentence: Ann met Bob .\n The relationship between Ann and Bob is"
    )
    with pytest.raises(ValueError, match="needs e1 and e2"):
        build_prompt("relation_classification_state", "Ann met Bob .")
    with pytest.raises(ValueError, match="unknown prompt"):
        build_prompt("nope", "x")
    assert answer_text("Sports") == " Sports"
    assert normalise_answer("  Field Of AI ") == "field of ai"


def test_answer_mask_is_exactly_space_y_eos_with_left_truncation() -> None:
    tok = byte_level_tokenizer()
    enc = CausalLMEncoder(tok, max_length=24, max_target_length=8, add_bos=False)
    source = build_prompt("default", "a very long sentence that will not fit")
    answer = answer_text("World")
    feat = enc.encode(source, answer)
    answer_ids = tok(" World", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    supervised = [t for t in feat["labels"] if t != IGNORE_INDEX]
    assert supervised == answer_ids
    assert feat["input_ids"][-len(answer_ids) :] == answer_ids
    assert len(feat["input_ids"]) <= 24
    assert len(feat["input_ids"]) - len(answer_ids) == enc.prompt_budget == 16
    # the prompt lost tokens from its left: it still ends with the label cue
    prompt_ids = feat["input_ids"][: -len(answer_ids)]
    assert tok.decode(prompt_ids).endswith("\n The label:")
    assert not tok.decode(prompt_ids).startswith("Input sentence")

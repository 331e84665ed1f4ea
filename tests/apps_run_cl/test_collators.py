"""run_cl's collators: answer-only loss on ``" y" eos`` with left truncation; heads batches."""

from __future__ import annotations

from transformers import ByT5Tokenizer


def test_lm_answer_mask_covers_exactly_space_y_eos_with_left_truncation(run_cl):
    from classic_app.data import LMCollator

    tok = ByT5Tokenizer()
    coll = LMCollator(tok, prompt="qa", max_length=48, max_target_length=8)
    rows = [{"input": "x" * 80, "target": "ab"}, {"input": "hi", "target": "cde"}]
    batch = coll(rows)
    for i, row in enumerate(rows):
        labels = batch["labels"][i]
        kept = labels[labels != -100].tolist()
        assert kept == tok(" " + row["target"], add_special_tokens=False)["input_ids"] + [
            tok.eos_token_id
        ]
    long_ids = batch["input_ids"][0][batch["attention_mask"][0] == 1].tolist()
    prompt = long_ids[: -len(" ab") - 1]
    assert len(prompt) == 48 - 8  # the prompt keeps max_length - max_target_length tokens ...
    text = tok.decode(prompt)
    assert text.endswith("\n Short Answer:") and text.startswith("x")  # ... from the left
    assert batch["attention_mask"][1][0] == 0  # left padding
    inputs, golds = coll.generation_batch(rows)
    assert golds == ["ab", "cde"] and inputs["attention_mask"][1][0] == 0


def test_classifier_collator_labels_and_padding(run_cl):
    from classic_app.data import ClassifierCollator
    from classic_app.models import minilm_path
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_path())
    rows = [
        {"input": "a long sentence about sports", "label_idx_cil": 7},
        {"input": "x", "label_idx_cil": 2},
    ]
    batch = ClassifierCollator(tok, "none", 8)(rows)
    assert batch["labels"].tolist() == [7, 2]
    assert batch["input_ids"][0, 0] == tok.cls_token_id and batch["attention_mask"][1, -1] == 0

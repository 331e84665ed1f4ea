"""Seq2seq (T5-style) encoder with the ByT5 tokenizer and a tiny T5 model."""

from __future__ import annotations

import pytest
import torch

from cl_data import IGNORE_INDEX, Prompted, Seq2SeqEncoder

PAIRS = [
    Prompted("Task:TC\nDataset:x\nshort\nAnswer:", "World", "x", "x-0"),
    Prompted("Task:TC\nDataset:x\na much longer source text here\nAnswer:", "Science", "x", "x-1"),
    Prompted("Task:TC\nDataset:x\nmid size\nAnswer:", "Sports", "x", "x-2"),
]


def test_encode_matches_the_t5_tokenizer(t5_tokenizer) -> None:
    encoder = Seq2SeqEncoder(t5_tokenizer)
    features = encoder.encode(PAIRS[0].source, PAIRS[0].target)
    assert features["input_ids"] == t5_tokenizer(PAIRS[0].source)["input_ids"]
    assert features["input_ids"][-1] == t5_tokenizer.eos_token_id
    assert features["attention_mask"] == [1] * len(features["input_ids"])
    assert features["labels"] == [ord(c) + 3 for c in "World"] + [t5_tokenizer.eos_token_id]
    expected = t5_tokenizer(text_target="World", max_length=50, truncation=True)["input_ids"]
    assert features["labels"] == expected


def test_length_limits(t5_tokenizer) -> None:
    encoder = Seq2SeqEncoder(t5_tokenizer)
    features = encoder.encode("x" * 600, "y" * 80)
    assert len(features["input_ids"]) == 512
    assert features["input_ids"][-1] == t5_tokenizer.eos_token_id
    assert len(features["labels"]) == 50
    assert features["labels"][-1] == t5_tokenizer.eos_token_id
    assert features["labels"][:49] == [ord("y") + 3] * 49
    small = Seq2SeqEncoder(t5_tokenizer, max_source_length=16, max_target_length=4)
    features = small.encode("x" * 600, "World")
    assert len(features["input_ids"]) == 16
    assert features["labels"] == [ord("W") + 3, ord("o") + 3, ord("r") + 3, 1]
    with pytest.raises(ValueError, match="max_target_length"):
        Seq2SeqEncoder(t5_tokenizer, max_target_length=0)
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        Seq2SeqEncoder(t5_tokenizer, pad_to_multiple_of=0)


@pytest.mark.parametrize("multiple", [None, 8])
def test_collate_pads_right_with_minus_100(t5_tokenizer, multiple) -> None:
    encoder = Seq2SeqEncoder(t5_tokenizer, pad_to_multiple_of=multiple)
    features = encoder.encode_all(PAIRS)
    batch = encoder.collate(features)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    width = max(len(f["input_ids"]) for f in features)
    label_width = max(len(f["labels"]) for f in features)
    if multiple:
        width, label_width = -(-width // 8) * 8, -(-label_width // 8) * 8
    assert batch["input_ids"].shape == (3, width)
    assert batch["labels"].shape == (3, label_width)
    for row, f in enumerate(features):
        n, m = len(f["input_ids"]), len(f["labels"])
        assert batch["input_ids"][row, :n].tolist() == f["input_ids"]
        assert (batch["input_ids"][row, n:] == t5_tokenizer.pad_token_id).all()
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        assert batch["labels"][row, :m].tolist() == f["labels"]
        assert (batch["labels"][row, m:] == IGNORE_INDEX).all()
    padded = sum(label_width - len(f["labels"]) for f in features)
    assert int((batch["labels"] == IGNORE_INDEX).sum()) == padded


def test_generation_batch_and_decode(t5_tokenizer) -> None:
    encoder = Seq2SeqEncoder(t5_tokenizer, pad_to_multiple_of=8)
    gen = encoder.generation_batch(PAIRS)
    train = encoder.collate(encoder.encode_all(PAIRS))
    assert torch.equal(gen.input_ids, train["input_ids"])
    assert torch.equal(gen.attention_mask, train["attention_mask"])
    assert gen.gold == ["World", "Science", "Sports"]
    assert gen.tasks == ["x"] * 3 and gen.ids == ["x-0", "x-1", "x-2"]
    assert gen.sources == [p.source for p in PAIRS]
    assert set(gen.model_inputs()) == {"input_ids", "attention_mask"}
    generated = torch.tensor(
        [[0, 90, 114, 1, 0], [0, ord("a") + 3, ord(" ") + 3, ord(" ") + 3, 1], [0, 1, 0, 0, 0]]
    )
    assert encoder.decode(generated, gen) == ["Wo", "a", ""]
    batches = encoder.generation_batches(PAIRS, batch_size=2)
    assert [len(b) for b in batches] == [2, 1]
    assert batches[1].gold == ["Sports"]


def test_tiny_t5_loss_ignores_padding(t5_tokenizer) -> None:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(t5_tokenizer),
        d_model=32,
        d_ff=64,
        d_kv=8,
        num_layers=2,
        num_heads=4,
        dropout_rate=0.0,
        decoder_start_token_id=t5_tokenizer.pad_token_id,
        pad_token_id=t5_tokenizer.pad_token_id,
        eos_token_id=t5_tokenizer.eos_token_id,
    )
    model = T5ForConditionalGeneration(config).eval()
    encoder = Seq2SeqEncoder(t5_tokenizer, pad_to_multiple_of=8)
    features = encoder.encode_all(PAIRS)
    with torch.no_grad():
        batch_loss = model(**encoder.collate(features)).loss
        sums, tokens = 0.0, 0
        for f in features:
            single = model(**encoder.collate([f])).loss
            sums += float(single) * len(f["labels"])
            tokens += len(f["labels"])
    assert float(batch_loss) == pytest.approx(sums / tokens, rel=1e-5)

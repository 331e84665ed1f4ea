"""Causal-LM encoder: prompt masking, truncation, left padding, same attention pattern."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from cl_data import IGNORE_INDEX, CausalLMEncoder, Prompted
from cl_data.batching import resolve_pad_id

PAIRS = [
    Prompted("Task:TC\nDataset:x\nshort\nAnswer:", "World", "x", "x-0"),
    Prompted("Task:TC\nDataset:x\na much longer source text here\nAnswer:", "Science", "x", "x-1"),
    Prompted("Task:TC\nDataset:x\nmid\nAnswer:", "Sports or Games", "x", "x-2"),
]


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def test_encode_bos_source_target_eos(causal_tokenizer) -> None:
    tok = causal_tokenizer
    encoder = CausalLMEncoder(tok)
    source, target = PAIRS[0].source, PAIRS[0].target
    f = encoder.encode(source, target)
    prompt = [tok.bos_token_id, *ids(tok, source)]
    answer = [*ids(tok, target), tok.eos_token_id]
    assert f["input_ids"] == prompt + answer
    assert f["labels"] == [IGNORE_INDEX] * len(prompt) + answer
    assert f["labels"].count(IGNORE_INDEX) == 1 + len(source.encode())  # BOS + one per byte
    assert f["input_ids"][-1] == f["labels"][-1] == tok.eos_token_id
    assert f["attention_mask"] == [1] * len(f["input_ids"])


def test_tokenizer_without_bos(t5_tokenizer) -> None:
    encoder = CausalLMEncoder(t5_tokenizer)
    f = encoder.encode("abc", "d")
    assert f["input_ids"] == [100, 101, 102, 103, 1]
    assert f["labels"] == [IGNORE_INDEX] * 3 + [103, 1]


def test_truncation_cuts_the_source_never_the_target(causal_tokenizer) -> None:
    tok = causal_tokenizer
    source = "START " + "x" * 600 + " Answer:"
    encoder = CausalLMEncoder(tok, max_source_length=64, max_target_length=50)
    f = encoder.encode(source, "World")
    prompt_len = f["labels"].count(IGNORE_INDEX)
    assert prompt_len == 64
    assert f["input_ids"][0] == tok.bos_token_id
    assert tok.decode(f["input_ids"][1:prompt_len]).endswith("x Answer:")
    assert tok.decode(f["input_ids"][prompt_len:]) == "World</s>"

    right = CausalLMEncoder(tok, max_source_length=64, truncation_side="right")
    f = right.encode(source, "World")
    assert tok.decode(right.prompt_ids(source)[1:]).startswith("START xx")
    assert tok.decode(f["input_ids"][64:]) == "World</s>"

    capped = CausalLMEncoder(tok, max_source_length=512, max_target_length=10, max_length=48)
    f = capped.encode(source, "a very long target string")
    assert len(f["input_ids"]) <= 48
    assert f["labels"].count(IGNORE_INDEX) == 38
    assert tok.decode(f["input_ids"][38:]) == "a very lo</s>"
    assert capped.prompt_ids(source) == f["input_ids"][:38]


def test_invalid_lengths(causal_tokenizer) -> None:
    with pytest.raises(ValueError, match="no room for the source"):
        CausalLMEncoder(causal_tokenizer, max_length=10, max_target_length=9)
    with pytest.raises(ValueError, match="max_target_length"):
        CausalLMEncoder(causal_tokenizer, max_target_length=0)
    with pytest.raises(ValueError, match="truncation_side"):
        CausalLMEncoder(causal_tokenizer, truncation_side="middle")  # type: ignore[arg-type]


def test_pad_id_fallback() -> None:
    assert resolve_pad_id(SimpleNamespace(pad_token_id=None, eos_token_id=5), None) == 5
    assert resolve_pad_id(SimpleNamespace(pad_token_id=3, eos_token_id=5), None) == 3
    assert resolve_pad_id(SimpleNamespace(pad_token_id=3, eos_token_id=5), 0) == 0
    with pytest.raises(ValueError, match="neither a pad nor an EOS"):
        resolve_pad_id(SimpleNamespace(pad_token_id=None, eos_token_id=None), None)


@pytest.mark.parametrize("multiple", [None, 8])
def test_collate_right_padding(causal_tokenizer, multiple) -> None:
    encoder = CausalLMEncoder(causal_tokenizer, pad_to_multiple_of=multiple)
    features = encoder.encode_all(PAIRS)
    batch = encoder.collate(features)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    width = max(len(f["input_ids"]) for f in features)
    if multiple:
        width = -(-width // multiple) * multiple
    assert batch["input_ids"].shape == (3, width)
    masked = 0
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        assert batch["input_ids"][row, :n].tolist() == f["input_ids"]
        assert (batch["input_ids"][row, n:] == causal_tokenizer.pad_token_id).all()
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        masked += f["labels"].count(IGNORE_INDEX) + width - n
    assert int((batch["labels"] == IGNORE_INDEX).sum()) == masked


def test_collate_left_padding_has_position_ids(causal_tokenizer) -> None:
    encoder = CausalLMEncoder(causal_tokenizer, train_padding_side="left", pad_to_multiple_of=8)
    features = encoder.encode_all(PAIRS)
    batch = encoder.collate(features)
    width = batch["input_ids"].shape[1]
    assert width % 8 == 0
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        assert batch["input_ids"][row, width - n :].tolist() == f["input_ids"]
        assert batch["labels"][row, : width - n].eq(IGNORE_INDEX).all()
        assert batch["attention_mask"][row].tolist() == [0] * (width - n) + [1] * n
        assert batch["position_ids"][row, width - n :].tolist() == list(range(n))


def test_generation_batch_is_left_padded_prompts(causal_tokenizer) -> None:
    tok = causal_tokenizer
    encoder = CausalLMEncoder(tok, pad_to_multiple_of=8)
    gen = encoder.generation_batch(PAIRS)
    width = gen.input_ids.shape[1]
    assert width % 8 == 0
    assert gen.gold == ["World", "Science", "Sports or Games"]
    for row, pair in enumerate(PAIRS):
        f = encoder.encode(pair.source, pair.target)
        prompt = f["input_ids"][: f["labels"].count(IGNORE_INDEX)]
        n = len(prompt)
        assert gen.input_ids[row, width - n :].tolist() == prompt  # same tokens as training
        assert gen.input_ids[row, width - n] == tok.bos_token_id
        assert gen.attention_mask[row].tolist() == [0] * (width - n) + [1] * n  # BOS attended
        assert (gen.input_ids[row, : width - n] == tok.pad_token_id).all()


def test_decode_keeps_only_the_continuation(causal_tokenizer) -> None:
    tok = causal_tokenizer
    encoder = CausalLMEncoder(tok)
    gen = encoder.generation_batch(PAIRS[:2])
    new = [[*ids(tok, " World"), tok.eos_token_id, *ids(tok, "junk")], ids(tok, "Sci")]
    new = [row + [tok.pad_token_id] * (12 - len(row)) for row in new]
    generated = torch.cat([gen.input_ids, torch.tensor(new)], dim=1)
    assert encoder.decode(generated, gen) == ["World", "Sci"]


def _tiny_llama(tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("side", ["right", "left"])
def test_training_and_generation_see_the_same_inputs(causal_tokenizer, side) -> None:
    tok = causal_tokenizer
    model = _tiny_llama(tok)
    encoder = CausalLMEncoder(tok, train_padding_side=side, pad_to_multiple_of=8)
    features = encoder.encode_all(PAIRS)
    train = encoder.collate(features)
    gen = encoder.generation_batch(PAIRS)
    with torch.no_grad():
        logits = model(**train).logits
        out = model.generate(
            **gen.model_inputs(),
            max_new_tokens=1,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tok.pad_token_id,
        )
    width = train["input_ids"].shape[1]
    for row, f in enumerate(features):
        prompt_len = f["labels"].count(IGNORE_INDEX)
        offset = 0 if side == "right" else width - len(f["input_ids"])
        train_next = logits[row, offset + prompt_len - 1]
        torch.testing.assert_close(out.logits[0][row], train_next, atol=1e-5, rtol=1e-5)


def test_tiny_llama_loss_is_on_target_and_eos_only(causal_tokenizer) -> None:
    tok = causal_tokenizer
    model = _tiny_llama(tok)
    encoder = CausalLMEncoder(tok)
    features = encoder.encode_all(PAIRS)
    batch = encoder.collate(features)
    with torch.no_grad():
        loss = model(**batch).loss
        logits = model(**batch).logits
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll, count = 0.0, 0
    for row, f in enumerate(features):
        prompt_len = f["labels"].count(IGNORE_INDEX)
        for pos in range(prompt_len, len(f["input_ids"])):  # target tokens and EOS
            nll -= float(log_probs[row, pos - 1, f["input_ids"][pos]])
            count += 1
    assert count == sum(len(p.target.encode()) + 1 for p in PAIRS)
    assert float(loss) == pytest.approx(nll / count, rel=1e-5)

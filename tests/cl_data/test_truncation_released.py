"""`truncation="released"`: long inputs as the O-LoRA / N-LoRA releases' collator handles them.

Tokenizers that need no download: ByT5 (encoder-decoder, appends EOS), cl-data's byte-level
tokenizer (decoder-only, prepends BOS like LLaMA's) and a T5-style Unigram vocabulary trained here
with `tokenizers`, in which decoding drops unknown characters so that re-tokenising changes ids.
"""

from __future__ import annotations

import copy

import pytest

from cl_data import IGNORE_INDEX, CausalLMEncoder, Prompted, Seq2SeqEncoder

# ---------------------------------------------------------------------------- encoder-decoder

SOURCE = "it is good , very good ."  # 24 bytes; ByT5 appends EOS


def byt5_ids(tok, text: str) -> list[int]:
    return tok(text)["input_ids"]


def test_seq2seq_prompt_exactly_at_the_limit_is_untouched(t5_tokenizer) -> None:
    limit = len(byt5_ids(t5_tokenizer, SOURCE))  # 25 with EOS
    released = Seq2SeqEncoder(t5_tokenizer, max_source_length=limit, truncation="released")
    cut = Seq2SeqEncoder(t5_tokenizer, max_source_length=limit)
    assert released.source_ids(SOURCE) == cut.source_ids(SOURCE) == byt5_ids(t5_tokenizer, SOURCE)


def test_seq2seq_one_token_over_is_decoded_and_re_tokenised(t5_tokenizer) -> None:
    tok = t5_tokenizer
    limit = len(byt5_ids(tok, SOURCE)) - 1  # one token over
    released = Seq2SeqEncoder(tok, max_source_length=limit, truncation="released")
    cut = Seq2SeqEncoder(tok, max_source_length=limit)
    got = released.source_ids(SOURCE)
    # the first `limit` ids (no EOS among them) decoded with transformers 4.28's clean-up, which
    # joins " ," and " ." to the word before, then tokenised again with a cut at `limit`
    assert tok.decode(byt5_ids(tok, SOURCE)[:limit], skip_special_tokens=True) == SOURCE
    assert got == byt5_ids(tok, "it is good, very good.")
    assert got[-1] == tok.eos_token_id and len(got) == limit - 1  # two spaces fewer
    assert cut.source_ids(SOURCE) == [*byt5_ids(tok, SOURCE)[: limit - 1], tok.eos_token_id]
    assert got != cut.source_ids(SOURCE)
    # the same text decoded without clean-up is byte for byte what was cut: no change
    plain = Seq2SeqEncoder(
        tok, max_source_length=limit, truncation="released", decode_clean_up=None
    )
    assert plain.source_ids(SOURCE) == cut.source_ids(SOURCE)


def test_seq2seq_released_in_training_and_generation(t5_tokenizer) -> None:
    tok = t5_tokenizer
    enc = Seq2SeqEncoder(tok, max_source_length=16, max_target_length=4, truncation="released")
    features = enc.encode(SOURCE, "positive")
    assert features["input_ids"] == enc.source_ids(SOURCE)
    assert features["labels"] == [*byt5_ids(tok, "pos")[:3], tok.eos_token_id]
    batch = enc.generation_batch([Prompted(SOURCE, "positive", "t", "t-0")])
    assert batch.input_ids[0].tolist() == enc.source_ids(SOURCE)


def test_seq2seq_a_character_split_by_the_cut_is_dropped(t5_tokenizer) -> None:
    tok = t5_tokenizer
    source = "ab\u20accd"  # the euro sign is three bytes: e2 82 ac
    released = Seq2SeqEncoder(tok, max_source_length=4, truncation="released")
    # a, b, 0xe2, 0x82 decode to "ab" (the broken character is dropped): "ab" + EOS
    assert released.source_ids(source) == byt5_ids(tok, "ab")
    cut = Seq2SeqEncoder(tok, max_source_length=4)
    assert cut.source_ids(source) == [*byt5_ids(tok, source)[:3], tok.eos_token_id]


@pytest.fixture(scope="module")
def unigram_tokenizer():
    """A T5-style Unigram vocabulary (Metaspace, `</s>` appended) trained on a few sentences; its
    decoder drops what it maps to `<unk>`, as T5's sentencepiece vocabulary does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["the cat sat on the mat", "a dog ran in the park", "the bird can sing"] * 20
    core = Tokenizer(models.Unigram())
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=80, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    core.train_from_iterator(corpus, trainer)
    eos = core.token_to_id("</s>")
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def test_seq2seq_unknown_characters_vanish_when_re_tokenised(unigram_tokenizer) -> None:
    tok = unigram_tokenizer
    source = "the cat {} sat on the mat the dog ran in the park"
    ids = tok(source)["input_ids"]
    assert tok.unk_token_id in ids[:10]
    limit = len(ids) - 3
    released = Seq2SeqEncoder(tok, max_source_length=limit, truncation="released")
    cut = Seq2SeqEncoder(tok, max_source_length=limit)
    got = released.source_ids(source)
    assert tok.unk_token_id not in got and tok.unk_token_id in cut.source_ids(source)
    assert got[-1] == tok.eos_token_id and len(got) <= limit
    kept = tok.decode(ids[:limit], skip_special_tokens=True, clean_up_tokenization_spaces=True)
    assert got == tok(kept, truncation=True, max_length=limit)["input_ids"]
    assert got != cut.source_ids(source)


# ----------------------------------------------------------------------------- decoder-only


def release_batch(tok, rows, max_source: int, max_target: int, train: bool = True):
    """An independent transcription of the releases' decoder-only collator for a whole batch:
    (ids of every row, positions of every row whose token is a loss target)."""
    limit = max_source + max_target if train else max_source
    texts, label_lens, max_len = [], [], -1
    for source, target in rows:
        prompt, answer = tok.bos_token + source, target + tok.eos_token
        p, a = tok(prompt)["input_ids"], tok(answer)["input_ids"]
        if not train:
            label_lens.append(0)
            if len(p) <= limit:
                max_len = max(max_len, len(p))
                texts.append(prompt)
            else:
                max_len = limit
                texts.append(tok.decode(p[:limit], skip_special_tokens=False))
        elif len(p) + len(a) <= limit:
            max_len = max(max_len, len(p) + len(a))
            label_lens.append(len(a))
            texts.append(prompt + answer)
        else:
            max_len = max_source
            texts.append(tok.decode((p + a)[:limit], skip_special_tokens=False))
            label_lens.append(max(0, limit - len(p)))
    ids = [tok(t, truncation=True, max_length=max_source)["input_ids"] for t in texts]
    width = max(len(r) for r in ids)
    max_len = min(max_len, limit)
    targets = []
    for row, label_len in zip(ids, label_lens, strict=True):
        offset = width - len(row)  # left padding
        mask = [0 if c < offset else 1 for c in range(width)]
        for c in list(range(width))[: max_len - label_len - 1]:
            mask[c] = 0
        # the weight of predicting column j + 1 is mask[j]
        targets.append([j + 1 - offset for j in range(width - 1) if mask[j]])
    return ids, targets


def loss_positions(features) -> list[int]:
    return [i for i, v in enumerate(features["labels"]) if v != IGNORE_INDEX]


def byte_ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.fixture
def released(causal_tokenizer):
    return CausalLMEncoder(
        causal_tokenizer, max_source_length=8, max_target_length=4, truncation="released"
    )


def test_causal_short_row_double_bos_and_loss_on_answer(causal_tokenizer, released) -> None:
    tok = causal_tokenizer
    f = released.encode("abc", "XY")
    bos, eos = tok.bos_token_id, tok.eos_token_id
    # BOS written into the prompt and BOS added by the tokenizer: two, as in the release
    assert f["input_ids"] == [bos, bos, *byte_ids(tok, "abcXY"), eos]
    assert f["labels"] == [IGNORE_INDEX] * 5 + [*byte_ids(tok, "XY"), eos]
    assert f["attention_mask"] == [1] * 8
    cut = CausalLMEncoder(tok, max_source_length=8, max_target_length=4).encode("abc", "XY")
    assert cut["input_ids"] == [bos, *byte_ids(tok, "abcXY"), eos]


def test_causal_row_exactly_at_the_limit_and_one_token_over(causal_tokenizer, released) -> None:
    tok = causal_tokenizer
    bos = tok.bos_token_id
    # evaluation: the prompt alone, limited to max_source = 8 ids ([bos, bos] + 6 bytes fit)
    assert released.prompt_ids("abcdef") == [bos, bos, *byte_ids(tok, "abcdef")]
    # one id over: the first 8 ids decoded with special tokens kept ("<s><s>abcdef"), tokenised
    # again (the tokenizer adds a third BOS) and cut on the right: the beginning is kept
    assert released.prompt_ids("abcdefg") == [bos, bos, bos, *byte_ids(tok, "abcde")]
    # training: prompt (8 ids) + answer [bos, X, Y, eos] (4) is exactly 8 + 4: no decoding; the
    # second tokenisation cuts the whole answer, and the mask, computed before, trains nothing
    at = released.encode("abcdef", "XY")
    assert at["input_ids"] == [bos, bos, *byte_ids(tok, "abcdef")]
    assert loss_positions(at) == []
    # one id over: the first 12 ids are decoded ("<s><s>abcdefg<s>XY"), tokenised again (a third
    # BOS) and cut to 8; the label length computed before (12 - 9 = 3) puts the loss on the
    # last 3 tokens, which are prompt bytes: the release's quirk, reproduced
    over = released.encode("abcdefg", "XY")
    assert over["input_ids"] == [bos, bos, bos, *byte_ids(tok, "abcde")]
    assert loss_positions(over) == [5, 6, 7]


def test_causal_label_cut_by_the_second_truncation(causal_tokenizer, released) -> None:
    tok = causal_tokenizer
    bos = tok.bos_token_id
    # 6 prompt + 5 answer ids = 11 <= 12, so no decoding; the second tokenisation cuts at 8 and
    # keeps X and Y of the answer only; the loss stays on them
    f = released.encode("abcd", "XYZ")
    assert f["input_ids"] == [bos, bos, *byte_ids(tok, "abcdXY")]
    assert f["labels"] == [IGNORE_INDEX] * 6 + byte_ids(tok, "XY")


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("abc", "XY"),
        ("abcd", "XY"),
        ("abcd", "XYZ"),
        ("abcde", "XY"),
        ("abcdefghij", "XY"),
        ("a", "XYZUVW"),
        ("ab , c .", "Y"),
        ("", "X"),
    ],
)
def test_causal_rows_match_the_release_on_a_batch_of_one(causal_tokenizer, source, target):
    enc = CausalLMEncoder(
        causal_tokenizer, max_source_length=8, max_target_length=4, truncation="released"
    )
    ids, targets = release_batch(causal_tokenizer, [(source, target)], 8, 4)
    f = enc.encode(source, target)
    assert f["input_ids"] == ids[0]
    assert loss_positions(f) == targets[0]
    assert [f["labels"][i] for i in targets[0]] == [ids[0][i] for i in targets[0]]
    eval_ids, _ = release_batch(causal_tokenizer, [(source, target)], 8, 4, train=False)
    assert enc.prompt_ids(source) == eval_ids[0]


def test_causal_mixed_batches_differ_from_the_release_as_documented(causal_tokenizer) -> None:
    # DECISION (CausalLMEncoder docstring): a row's mask does not depend on its batch-mates; in the
    # release a row cut at max_source shifts the mask of a shorter row in the same batch
    rows = [("abcdefgh", "XY"), ("a", "XY")]
    enc = CausalLMEncoder(
        causal_tokenizer, max_source_length=8, max_target_length=4, truncation="released"
    )
    _, together = release_batch(causal_tokenizer, rows, 8, 4)
    _, alone = release_batch(causal_tokenizer, rows[1:], 8, 4)
    assert loss_positions(enc.encode(*rows[1])) == alone[0] == [3, 4, 5]
    assert together[1] != alone[0]


def test_causal_generation_batch_is_left_padded(causal_tokenizer, released) -> None:
    examples = [Prompted("abcdefgh", "XY", "t", "t-0"), Prompted("ab", "Y", "t", "t-1")]
    batch = released.generation_batch(examples)
    rows = [released.prompt_ids(ex.source) for ex in examples]
    assert batch.input_ids.shape == (2, 8)
    assert batch.input_ids[1, -len(rows[1]) :].tolist() == rows[1]
    assert batch.attention_mask[1].tolist() == [0] * (8 - len(rows[1])) + [1] * len(rows[1])


def test_bad_truncation_settings(causal_tokenizer, t5_tokenizer) -> None:
    with pytest.raises(ValueError, match="truncation must be one of"):
        Seq2SeqEncoder(t5_tokenizer, truncation="trim")
    with pytest.raises(ValueError, match="truncation must be one of"):
        CausalLMEncoder(causal_tokenizer, truncation="trim")
    with pytest.raises(ValueError, match="max_length"):
        CausalLMEncoder(causal_tokenizer, max_length=64, truncation="released")
    tok = copy.deepcopy(causal_tokenizer)  # the fixture is shared: change a copy
    tok.truncation_side = "left"
    with pytest.raises(ValueError, match="truncation_side"):
        CausalLMEncoder(tok, truncation="released")
    assert CausalLMEncoder(tok).truncation == "cut"  # the plain cut does not care


def test_no_source_limit(causal_tokenizer, t5_tokenizer) -> None:
    long = "x" * 600
    assert len(Seq2SeqEncoder(t5_tokenizer, max_source_length=None).source_ids(long)) == 601
    enc = CausalLMEncoder(causal_tokenizer, max_source_length=None)
    assert len(enc.prompt_ids(long)) == 601
    with pytest.raises(ValueError, match="max_source_length"):
        CausalLMEncoder(causal_tokenizer, max_source_length=None, truncation="released")

"""Recurrent-KIF data formats (T5 and Alpaca), the order mapping, scoring and OP/BWT."""

import types

import pytest

from cl_data import IGNORE_INDEX, Seq2SeqEncoder, byte_level_tokenizer, load_instruct_task
from cl_eval import average_performance, backward_transfer


def test_t5_source_is_instruction_plus_input(shared_data):
    from kif_app.data import train_tasks

    from cl_data import TaskStream

    task = load_instruct_task("cb", shared_data / "long_sequence_instruct")
    ex = task.train[0]
    prompted = task.prompted("train")[0]
    assert prompted.source == ex.instruction + ex.sentence and prompted.target == ex.label
    tok = byte_level_tokenizer()
    small = task.with_splits(train=task.train[:3], test=task.test[:2])
    enc = Seq2SeqEncoder(tok, max_source_length=1024, max_target_length=128, pad_to_multiple_of=8)
    (train,) = train_tasks(TaskStream((small,)), enc, causal_lm=False)
    assert train.train[0]["output"] == ex.label
    batch = train.collate(train.train)
    assert batch["input_ids"].shape[1] % 8 == 0 and (batch["labels"] == IGNORE_INDEX).any()


def test_alpaca_encoding_masks_the_prompt_and_pads_left(shared_data):
    from kif_app.encoding import alpaca_encoder

    from cl_data import alpaca_prompt

    task = load_instruct_task("copa", shared_data / "long_sequence_instruct")
    tok = byte_level_tokenizer()
    enc = alpaca_encoder(tok, cutoff_len=512)
    rows = task.prompted("train", template="alpaca")[:3]
    ex = task.train[0]
    assert rows[0].source == alpaca_prompt(ex.instruction, ex.sentence)
    assert rows[0].source.startswith("Below is an instruction") and "### Input:\n" in rows[0].source
    feats = [enc.encode(r.source, r.target) for r in rows]
    for f, r in zip(feats, rows):
        prompt_tokens = 1 + len(tok(r.source, add_special_tokens=False)["input_ids"])
        assert f["labels"].count(IGNORE_INDEX) == prompt_tokens
        assert f["input_ids"][0] == tok.bos_token_id and f["input_ids"][-1] == tok.eos_token_id
        answer = tok.decode(f["input_ids"][prompt_tokens:-1])
        assert answer == r.target
    batch = enc.collate(feats)
    assert batch["input_ids"].shape[1] % 8 == 0
    shortest = min(range(3), key=lambda i: len(feats[i]["input_ids"]))
    assert batch["attention_mask"][shortest, 0] == 0  # left padding
    assert batch["input_ids"][shortest, 0] == 0 and batch["labels"][shortest, 0] == IGNORE_INDEX
    long = enc.encode("x" * 600, "yes")
    assert len(long["input_ids"]) == 512 and long["input_ids"][-1] != tok.eos_token_id


def test_orders_and_the_reference_numbering():
    from kif_app.data import describe_order, task_names

    cfg = types.SimpleNamespace(tasks=(), order=4, num_tasks=None)
    assert task_names(cfg)[:3] == ["mnli", "cb", "wic"] and len(task_names(cfg)) == 15
    assert task_names(types.SimpleNamespace(tasks=(), order=4, num_tasks=3)) == [
        "mnli",
        "cb",
        "wic",
    ]
    assert describe_order(cfg) == "O-LoRA order 4 (Recurrent-KIF order id 1)"
    from cl_data import kif_to_olora

    assert [kif_to_olora(i) for i in range(1, 7)] == [4, 5, 6, 1, 2, 3]


def test_scoring_lowercase_exact_match_and_op_bwt(kif):
    kif_match = kif.kif_match

    assert kif_match("Positive </s>", "positive")
    assert kif_match("  Entailment", "entailment")
    assert not kif_match("positive.", "positive")  # nothing else normalised
    a = [[0.8], [0.7, 0.9], [0.6, 0.85, 0.95]]
    assert average_performance(a) == pytest.approx(0.8)
    assert backward_transfer(a) == pytest.approx(-0.125)


def test_memory_on_the_real_training_sets(shared_data):
    from collections import Counter

    from cl_methods.memory import MemoryBuffer

    root = shared_data / "long_sequence_instruct"
    tasks = [load_instruct_task(name, root) for name in ("cb", "copa", "rte")]
    rows = {t.name: [{"id": ex.id, "output": ex.label} for ex in t.train] for t in tasks}
    buffer = MemoryBuffer.build([(name, r) for name, r in rows.items()], 2.0, 42)
    assert [len(r) for r in buffer.task_rows] == [5, 8, 20]
    assert set(Counter(r["output"] for r in buffer.task_rows[0])) == set(tasks[0].labels)
    assert Counter(r["output"] for r in buffer.task_rows[1]) == {lab: 4 for lab in tasks[1].labels}
    train_ids = {t.name: {ex.id for ex in t.train} for t in tasks}
    for name, chosen in zip(buffer.task_names, buffer.task_rows):
        assert {r["id"] for r in chosen} <= train_ids[name]  # training rows only


def test_released_truncation_cuts_training_inputs_only():
    """Recurrent-KIF's release cuts training inputs to the limit and tokenises test inputs whole
    (T5 and the Alpaca LLaMA recipe); ``--truncation cut`` cuts test inputs too."""
    from kif_app.data import evaluation_encoder
    from kif_app.encoding import alpaca_encoder

    from cl_data import Prompted

    tok = byte_level_tokenizer()
    long = [Prompted("x" * 300, "y", "t", "t-0")]
    t5 = Seq2SeqEncoder(tok, max_source_length=64, max_target_length=8)
    llama = alpaca_encoder(tok, cutoff_len=64, max_new_tokens=8)
    for enc in (t5, llama):
        assert len(enc.encode(long[0].source, "y")["input_ids"]) <= 64
        assert int(enc.generation_batch(long).attention_mask.sum()) == 64
        whole = evaluation_encoder(enc, "released")
        assert int(whole.generation_batch(long).attention_mask.sum()) == 301  # BOS + 300 bytes
        assert evaluation_encoder(enc, "cut") is enc
    with pytest.raises(ValueError, match="truncation"):
        evaluation_encoder(t5, "trim")

"""The shared generative-replay module: tokens, batches, parser, sampling, losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from lamol_tiny import tiny_gpt2, tiny_llama

from cl_methods.generative_replay import (
    IGNORE,
    LamolCollator,
    PseudoStats,
    Sampling,
    embedding_matrices,
    generate_samples,
    install_tokens,
    kd_loss,
    lm_loss,
    parse_lamol,
    resize_with_mean,
    split_counts,
    split_text_once,
)


@pytest.mark.parametrize("tie", [True, False])
def test_tokens_are_special_and_new_rows_are_the_mean(tie):
    model, tok = tiny_gpt2(tie=tie)
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    tokens = install_tokens(tok, num_tasks=3, per_task=True)
    assert tokens.gen == ("__0__", "__1__", "__2__") and tokens.ans == "__ans__"
    assert install_tokens(tok, 3, True) == tokens  # idempotent
    resize_with_mean(model, len(tok), tokens.all_ids)
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == len(tok) == old_in.shape[0] + 4
    for i in tokens.all_ids:
        assert torch.allclose(emb[i], old_in.mean(0), atol=1e-6)
        assert (
            tok("x " + tok.convert_ids_to_tokens(i), add_special_tokens=False)["input_ids"].count(i)
            == 1
        )
    assert torch.equal(emb[: old_in.shape[0]], old_in)
    assert len(embedding_matrices(model)) == (1 if tie else 2)  # a tied head is one matrix
    if not tie:
        out = model.get_output_embeddings().weight
        assert torch.allclose(out[tokens.ans_id], old_out.mean(0), atol=1e-6)
    text = tok.decode([tokens.ans_id, *tok("red", add_special_tokens=False)["input_ids"]],
                      skip_special_tokens=True)  # fmt: skip
    assert text.strip() == "red"


def test_shared_token_variant_has_one_gen_token():
    _, tok = tiny_llama()
    tokens = install_tokens(tok, 5, per_task=False)
    assert tokens.gen == ("__gen__",) and tokens.gen_id(4) == tokens.gen_id(0)


def _collator(max_length=64):
    _, tok = tiny_llama()
    return LamolCollator(tok, install_tokens(tok, 2, True), max_length), tok


def test_qa_and_gen_sequences_and_their_labels():
    col, tok = _collator()
    rows = [{"input": "ab", "target": "xy", "gen_task": 1, "is_pseudo": True},
            {"input": "abcd", "target": "z"}]  # fmt: skip
    b = col(rows)
    ans, eos = col.tokens.ans_id, tok.eos_token_id
    x, y = (
        tok("ab", add_special_tokens=False).input_ids,
        tok(" xy", add_special_tokens=False).input_ids,
    )
    w = b["gen_input_ids"].shape[1]
    assert b["input_ids"].shape == b["gen_input_ids"].shape == (2, w)
    qa = b["input_ids"][0][b["attention_mask"][0].bool()].tolist()
    assert qa == [*x, ans, *y, eos]
    labels = b["labels"][0][b["attention_mask"][0].bool()].tolist()
    assert labels == [IGNORE] * (len(x) + 1) + [*y, eos]  # exactly " y" eos
    gen = b["gen_input_ids"][0][b["gen_attention_mask"][0].bool()].tolist()
    assert gen == [col.tokens.gen_id(1), *qa]
    gen_labels = b["gen_labels"][0][b["gen_attention_mask"][0].bool()].tolist()
    assert gen_labels == [IGNORE, *qa]  # everything after G
    assert b["gen_input_ids"][1, -len(qa) - 1] != col.tokens.gen_id(1)  # row 1: task 0's token
    assert b["is_pseudo"].tolist() == [True, False]
    assert (b["labels"][b["attention_mask"] == 0] == IGNORE).all()  # pads never supervised
    assert b["position_ids"][0][b["attention_mask"][0].bool()].tolist() == list(range(len(qa)))
    inputs, golds = col.generation_batch(rows)
    assert inputs["input_ids"][0, -1] == ans and golds == ["xy", "z"]


def test_over_long_rows_lose_the_left_of_x_never_the_answer():
    col, tok = _collator(max_length=12)
    b = col([{"input": "abcdefghijklmnop", "target": "yes"}])
    assert b["gen_attention_mask"].sum() == 12
    qa = b["input_ids"][0][b["attention_mask"][0].bool()].tolist()
    assert tok.decode(qa, skip_special_tokens=True).endswith("op yes")
    assert (b["labels"] != IGNORE).sum() == len(tok(" yes", add_special_tokens=False).input_ids) + 1


def _decode(tok):
    return lambda ids: tok.decode(ids, skip_special_tokens=True)


def test_parser_keeps_exactly_one_answer_token():
    _, tok = tiny_llama()
    t = install_tokens(tok, 2, True)
    ids = lambda s: tok(s, add_special_tokens=False).input_ids  # noqa: E731
    eos, ans, dec = tok.eos_token_id, t.ans_id, _decode(tok)
    well_formed = [*ids("the sky"), ans, *ids(" blue"), eos, *ids("zz"), eos]
    assert parse_lamol(well_formed, ans, eos, dec) == ("the sky", "blue")
    assert parse_lamol([*ids("the sky blue"), eos], ans, eos, dec) == "ans_count"  # zero
    assert (
        parse_lamol([*ids("a"), ans, *ids("b"), ans, *ids("c"), eos], ans, eos, dec) == "ans_count"
    )
    # a second ANS after the eos does not count: the continuation is cut at the first eos
    assert parse_lamol([*ids("a"), ans, *ids("b"), eos, ans], ans, eos, dec) == ("a", "b")
    # missing eos (the length limit): kept, the whole rest is the answer
    assert parse_lamol([*ids("a"), ans, *ids(" b c")], ans, eos, dec) == ("a", "b c")
    assert parse_lamol([ans, *ids("b"), eos], ans, eos, dec) == "empty"
    assert parse_lamol([*ids("a"), ans, eos], ans, eos, dec) == "empty"
    # stray special tokens (a generation token) are dropped from the text
    assert parse_lamol([t.gen_id(1), *ids("a"), ans, *ids("b"), eos], ans, eos, dec) == ("a", "b")


def test_text_split_and_counts():
    assert split_text_once('hi there"? Answer: joy', '"? Answer:') == ("hi there", "joy")
    assert split_text_once("no separator", '"? Answer:') == "separator_count"
    assert split_text_once('a"? Answer: b"? Answer: c', '"? Answer:') == "separator_count"
    assert split_counts(10, 3) == [3, 3, 3] and split_counts(10, 0) == []


def test_pseudo_stats_add_up_over_old_tasks():
    a = PseudoStats(requested=4, kept=1, discarded={"empty": 1, "ans_count": 2}, truncated=3)
    b = PseudoStats(requested=4, kept=3, discarded={"ans_count": 1}, truncated=0, seconds=0.5)
    total = PseudoStats() + a + b
    assert (total.requested, total.kept, total.truncated, total.seconds) == (8, 4, 3, 0.5)
    assert total.discarded == {"ans_count": 3, "empty": 1} and total.discard_rate == 0.5


def test_sampling_is_batched_seeded_and_leaves_the_global_rng_alone():
    model, tok = tiny_llama()
    t = install_tokens(tok, 2, True)
    resize_with_mean(model, len(tok), t.all_ids)
    calls = []
    original = model.generate
    model.generate = lambda **kw: calls.append(kw["input_ids"].shape[0]) or original(**kw)

    def run(seed):
        return generate_samples(
            model, [t.gen_id(0)], 11, lambda ids: (str(ids), "y"), max_length=10,
            eos_id=tok.eos_token_id, sampling=Sampling(batch_size=4), seed=seed, progress=False,
        )  # fmt: skip

    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, stats = run(5)
    assert torch.equal(torch.get_rng_state(), before)
    assert calls == [4, 4, 3] and stats.requested == 11 and stats.kept == 11 == len(a)
    assert run(5)[0] == a and run(6)[0] != a
    assert all(len(eval(x)) <= 9 for x, _ in a)  # max_new = max_length - prompt length


def test_lm_loss_matches_the_model_loss_and_selects_rows():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[IGNORE, IGNORE, 3, 4, 1], [IGNORE, 2, 2, 5, 6]])
    full = F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1))
    assert torch.allclose(lm_loss(logits, labels), full)
    row0 = F.cross_entropy(logits[0, 1:4], labels[0, 2:])
    assert torch.allclose(lm_loss(logits, labels, torch.tensor([True, False])), row0)
    assert lm_loss(logits, labels, torch.tensor([False, False])).item() == 0.0


def test_kd_loss_direction_temperature_and_positions():
    torch.manual_seed(0)
    student, teacher = torch.randn(1, 4, 5), torch.randn(1, 4, 5)
    labels = torch.tensor([[IGNORE, IGNORE, 2, 3]])  # supervised tokens at 2, 3
    t = 2.0
    # by hand: positions 1 and 2 predict them (the logit predicting the first answer token is in)
    want = 0.0
    for i in (1, 2):
        p = torch.softmax(teacher[0, i] / t, -1)
        q = torch.softmax(student[0, i] / t, -1)
        want += (p * (p.log() - q.log())).sum() / 2
    got = kd_loss(student, teacher, labels, t)
    assert torch.allclose(got, t * t * want, atol=1e-6)
    reverse = kd_loss(teacher, student, labels, t)
    assert not torch.allclose(got, reverse)  # KL(teacher || student), not the reverse
    assert kd_loss(student, student.clone(), labels, t).abs().item() < 1e-6  # self-KD = 0
    moved = teacher.clone()
    moved[0, 3] += 10.0  # the last logit predicts nothing: not in P
    assert torch.allclose(kd_loss(student, moved, labels, t), got)
    s = student.clone().requires_grad_(True)
    kd_loss(s, teacher, labels, t).backward()
    assert s.grad[0, 0].abs().sum() == 0 and s.grad[0, 1].abs().sum() > 0

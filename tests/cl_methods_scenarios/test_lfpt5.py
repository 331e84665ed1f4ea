"""LFPT5, decoder-only port (spec §2.8): LAMOL-format data, prompt tuning with trainable special
rows, L_QA + 0.25 L_GEN, pseudo samples and KD(teacher || student) at T = 1 on pseudo rows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import ByT5Tokenizer, LlamaConfig, LlamaForCausalLM

from cl_methods import ContinualTrainer, RunInfo, TrainerConfig, TrainTask, build_method
from cl_methods.classic import PromptTunedLM
from cl_methods.classic.progressive_prompts import ProgressivePromptView
from cl_methods.generative_replay import (
    IGNORE,
    LamolCollator,
    Sampling,
    generate_samples,
    install_tokens,
    kd_loss,
    lamol_parser,
    lm_loss,
)
from cl_methods.method import TaskContext

COLOURS = ["red", "blue", "green", "black", "white", "brown"]


def tokenizer() -> ByT5Tokenizer:
    return ByT5Tokenizer()


def wide_llama(vocab: int, seed: int = 0) -> LlamaForCausalLM:
    """A random model whose frozen weights prompts can steer (std 0.3)."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
        bos_token_id=None, eos_token_id=1, pad_token_id=0, initializer_range=0.3,
    )  # fmt: skip
    return LlamaForCausalLM(cfg)


def colour_rows(task: int, n: int) -> list[dict]:
    g = torch.Generator().manual_seed(task)
    rows = []
    for k in range(n):
        c = COLOURS[2 * task + k % 2]
        rows.append({"input": f"{c} {'ab'[int(torch.randint(0, 2, (1,), generator=g))]}",
                     "target": c, "label_idx_cil": 2 * task + k % 2})  # fmt: skip
    return rows


def bound(scenario: str = "CIL", tasks: int = 3, **cfg):
    tok = tokenizer()
    method = build_method("lfpt5", {"num_virtual_tokens": 4, **cfg})
    names = tuple(f"task{t}" for t in range(tasks))
    method.bind_run(RunInfo(num_tasks=tasks, task_names=names, scenario=scenario, tokenizer=tok))
    return method, tok


# -- data format and parser ------------------------------------------------------------------
def test_parser_keeps_exactly_one_ans_and_cuts_at_eos():
    tok = tokenizer()
    tokens = install_tokens(tok, 2, per_task=True)
    ans, eos = tokens.ans_id, tok.eos_token_id
    parse = lamol_parser(tok, ans, eos)

    def ids(text):
        return tok(text, add_special_tokens=False)["input_ids"]

    good = [*ids("sky colour"), ans, *ids(" blue"), eos, *ids("junk"), ans]
    assert parse(good) == ("sky colour", "blue")
    assert parse([*ids("no answer token"), eos]) == "ans_count"
    assert parse([*ids("a"), ans, *ids("b"), ans, *ids("c"), eos]) == "ans_count"
    assert parse([*ids("cut short"), ans, *ids(" red")]) == ("cut short", "red")  # no eos: kept
    assert parse([ans, *ids(" red"), eos]) == "empty"  # empty x
    assert parse([*ids("x"), ans, eos]) == "empty"  # empty y
    assert parse([*ids("a"), tokens.gen_ids[1], ans, *ids(" b"), eos]) == ("a", "b")  # special


def test_collator_qa_gen_layout_left_truncation_and_eval_prompt():
    tok = tokenizer()
    tokens = install_tokens(tok, 3, per_task=True)
    fmt = LamolCollator(tok, tokens, max_length=12)
    batch = fmt([{"input": "a long input here", "target": "red", "gen_task": 2, "is_pseudo": True}])
    ids = batch["input_ids"][0].tolist()
    answer = [*tok(" red", add_special_tokens=False)["input_ids"], tok.eos_token_id]
    x = tok("a long input here", add_special_tokens=False)["input_ids"][-(12 - 5 - 2) :]
    assert ids[-len(answer) - len(x) - 1 :] == [*x, tokens.ans_id, *answer]  # x cut on the left
    labels = batch["labels"][0].tolist()
    assert labels[-len(answer) :] == answer and set(labels[: -len(answer)]) == {IGNORE}
    gen = batch["gen_input_ids"][0].tolist()
    assert gen[-len(answer) - len(x) - 2] == tokens.gen_ids[2]
    gen_labels = batch["gen_labels"][0].tolist()
    assert gen_labels[-len(answer) - len(x) - 1 :] == [*x, tokens.ans_id, *answer]
    assert gen_labels[-len(answer) - len(x) - 2] == IGNORE  # G itself is never a target
    assert batch["is_pseudo"].tolist() == [True]
    inputs, gold = fmt.generation_batch([{"input": "hi", "target": "blue"}])
    assert inputs["input_ids"][0, -1].item() == tokens.ans_id and gold == ["blue"]


def test_tokens_are_special_and_new_rows_are_the_mean(tmp_path):
    method, tok = bound()
    model = method.prepare(wide_llama(384))
    assert isinstance(model, PromptTunedLM)
    table = model.lm.get_input_embeddings().weight
    assert table.shape[0] == len(tok) == 384 + 4
    assert torch.allclose(table[384], table[:384].mean(0), atol=1e-6)
    assert torch.equal(table[384], table[387])
    assert tok.decode([method.tokens.ans_id], skip_special_tokens=True) == ""
    assert len(model.prompts) == 1 and model.prompts[0].shape == (4, 32)  # CIL: one prompt


# -- losses ------------------------------------------------------------------------------------
def test_kd_direction_temperature_and_shifted_positions():
    torch.manual_seed(0)
    student, teacher = torch.randn(1, 5, 7), torch.randn(1, 5, 7)
    labels = torch.tensor([[IGNORE, IGNORE, 3, 4, IGNORE]])
    assert torch.allclose(kd_loss(student, student, labels, 2.0), torch.tensor(0.0), atol=1e-6)
    got = kd_loss(student, teacher, labels, 2.0)
    want = 0.0
    for i in (1, 2):  # logits at i predict label i + 1: position 1 predicts the first answer
        p = F.softmax(teacher[0, i] / 2, -1)
        q = F.softmax(student[0, i] / 2, -1)
        want += (p * (p.log() - q.log())).sum()
    assert torch.allclose(got, 4.0 * want / 2, atol=1e-5)  # T^2 * mean KL(teacher || student)
    reverse = kd_loss(teacher, student, labels, 2.0)
    assert not torch.allclose(got, reverse)
    assert kd_loss(student, teacher, torch.full_like(labels, IGNORE), 1.0).item() == 0.0


def test_forward_loss_is_qa_plus_quarter_gen():
    method, _ = bound()
    model = method.prepare(wide_llama(384))
    method.on_task_start(TaskContext(index=0, name="task0", num_tasks=3), model)
    batch = method.collator(24)(colour_rows(0, 3))
    loss, out = method.forward_loss(batch, model)
    keys = ("input_ids", "attention_mask", "position_ids")
    qa = model(**{k: batch[k] for k in keys}).logits
    gen = model(**{k: batch["gen_" + k] for k in keys}).logits
    want = lm_loss(qa, batch["labels"]) + 0.25 * lm_loss(gen, batch["gen_labels"])
    assert torch.allclose(loss, want, atol=1e-5)
    flat = qa[:, :-1].reshape(-1, qa.shape[-1])
    manual = F.cross_entropy(flat, batch["labels"][:, 1:].reshape(-1))
    assert torch.allclose(lm_loss(qa, batch["labels"]), manual, atol=1e-6)
    assert method.loss(batch, out, model) is None  # task 0: no teacher


# -- training: what moves, pseudo data, KD, resume ---------------------------------------------
def run(method, model, tasks, tmp_path, **kw):
    cfg = TrainerConfig(
        output_dir=str(tmp_path), epochs=kw.pop("epochs", 2), lr=kw.pop("lr", 3e-2),
        batch_size=4, seed=1, progress=False, weight_decay=0.1, **kw,
    )  # fmt: skip
    trainer = ContinualTrainer(model, method, cfg, collate=method.collator(24))
    return trainer, trainer.fit(tasks)


def test_only_the_prompt_and_special_rows_change_and_pseudo_rows_are_saved(tmp_path):
    method, _ = bound(tasks=2, gen_batch_size=4)
    llama = wide_llama(384)
    body = {k: v.clone() for k, v in llama.state_dict().items() if "embed" not in k}
    table0 = llama.get_input_embeddings().weight.detach().clone()
    head0 = llama.lm_head.weight.detach().clone()
    tasks = [TrainTask(name=f"task{t}", train=colour_rows(t, 20)) for t in range(2)]
    trainer, _ = run(method, llama, tasks, tmp_path)
    lm = trainer.model.lm
    for k, v in body.items():
        if "lm_head" not in k:
            assert torch.equal(lm.state_dict()[k], v), k
    special = list(method.tokens.all_ids)
    table, head = lm.get_input_embeddings().weight, lm.lm_head.weight
    assert torch.equal(table[:384], table0) and torch.equal(head[:384], head0)
    assert not torch.allclose(table[special], table[:384].mean(0).expand(len(special), -1))
    stats = method.pseudo_stats["1"]
    assert stats["requested"] == 4.0  # floor(0.2 * 20) // 1
    assert len(method.pseudo_rows["1"]) == stats["kept"]
    state = method.state_dict()
    assert state["pseudo_rows"]["1"] == method.pseudo_rows["1"]
    assert not method.teacher  # dropped at the task's end


def test_pseudo_generation_through_the_prompt_view_is_deterministic_under_the_seed():
    method, tok = bound()
    model = method.prepare(wide_llama(384)).eval()
    model.active_prompt = -1
    view = ProgressivePromptView(model, 0)  # a fresh module: training=True
    parse = lamol_parser(tok, method.tokens.ans_id, tok.eos_token_id)
    kw = {"max_length": 12, "eos_id": tok.eos_token_id, "seed": 5, "progress": False}
    sampling = Sampling(batch_size=3)
    gen = [method.tokens.gen_id(0)]
    pairs_a, stats = generate_samples(view, gen, 7, parse, sampling=sampling, **kw)
    state = torch.random.get_rng_state()
    pairs_b, _ = generate_samples(view, gen, 7, parse, sampling=sampling, **kw)
    assert pairs_a == pairs_b and stats.requested == 7
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    assert model.active_prompt == -1 and view.training  # the view restores what it changed
    assert not any(m.training for m in model.modules())  # each module keeps its own mode
    model.active_prompt = 0  # the view generated through prompt 0
    pairs_c, _ = generate_samples(model, gen, 7, parse, sampling=sampling, **kw)
    assert pairs_c == pairs_a


def test_resume_reuses_the_saved_pseudo_rows(monkeypatch):
    method, _ = bound()
    method.prepare(wide_llama(384))
    row = {"input": "p", "target": "q", "gen_task": 0, "is_pseudo": True}
    saved = {"task_names": ["task0"], "current": 0, "teacher": {}, "pseudo_rows": {"1": [row]},
             "pseudo_stats": {"1": {"requested": 4.0, "kept": 1.0, "seconds": 0.1}}}  # fmt: skip
    method.load_state_dict(saved)

    def boom(*a, **k):
        raise AssertionError("a resumed task must not regenerate its pseudo samples")

    monkeypatch.setattr("cl_methods.methods.lfpt5.generate_samples", boom)
    task = TaskContext(index=1, name="task1", num_tasks=3, seed=1, progress=False)
    rows = method.task_train_data(task, colour_rows(1, 10))
    pseudo = [r for r in rows if r["is_pseudo"]]
    assert len(rows) == 11 and pseudo[0]["input"] == "p" and pseudo[0]["label_idx_cil"] is None


def test_kd_on_pseudo_rows_only_against_the_task_start_teacher():
    method, _ = bound(tasks=2)
    model = method.prepare(wide_llama(384))
    method.on_task_start(TaskContext(index=0, name="task0", num_tasks=2), model)
    method.on_task_end(TaskContext(index=0, name="task0", num_tasks=2), model)
    method.on_task_start(TaskContext(index=1, name="task1", num_tasks=2), model)
    assert method.teacher and method.teacher.task_index == 1
    pseudo = {"input": "x y", "target": "red", "gen_task": 0, "is_pseudo": True}
    rows = [*colour_rows(1, 2), pseudo]
    batch = method.collator(24)(rows)
    _, out = method.forward_loss(batch, model)
    assert method.loss(batch, out, model).abs().item() < 1e-6  # teacher == student: KD = 0
    with torch.no_grad():
        model.prompts[0].add_(0.5)
    _, out = method.forward_loss(batch, model)
    extra = method.loss(batch, out, model)
    keys = ("input_ids", "attention_mask", "position_ids")
    t_logits = method.teacher.logits({k: batch[k][2:] for k in keys})
    want = 0.01 * kd_loss(out.qa_logits[2:], t_logits, batch["labels"][2:], 1.0)
    assert extra.item() > 0 and torch.allclose(extra, want, atol=1e-7)


def test_til_has_a_prompt_per_task_and_no_pseudo_data():
    method, _ = bound("TIL", tasks=2)
    model = method.prepare(wide_llama(384))
    assert len(model.prompts) == 2 and not method.use_pseudo
    task = TaskContext(index=1, name="task1", num_tasks=2, seed=1)
    assert all(not r["is_pseudo"] for r in method.task_train_data(task, colour_rows(1, 5)))
    method.on_task_start(task, model)
    assert not method.teacher and model.active_prompt == 1
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"prompts.1", "lm.model.embed_tokens.weight", "lm.lm_head.weight"}


def test_needs_a_tokenizer():
    with pytest.raises(ValueError, match="needs the run's tokenizer"):
        build_method("lfpt5").bind_run(RunInfo(num_tasks=1, task_names=("a",)))


@pytest.mark.slow  # about 10 s on an idle 2-core CPU, minutes on a loaded one
def test_after_task0_the_model_learns_and_yields_parseable_pseudo_samples():
    """With lambda = 0.25 (the DECISION) the GEN sequences teach the frozen model + prompt +
    special rows to write ``x __ans__ y``: some sampled outputs parse."""
    method, tok = bound(tasks=2)
    model = method.prepare(wide_llama(len(tok) - 3))
    method.on_task_start(TaskContext(index=0, name="task0", num_tasks=2), model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = method.configure_optimizer(params, lambda ps: torch.optim.AdamW(ps, lr=3e-2))
    batch = method.collator(24)(colour_rows(0, 8))
    first = None
    for _ in range(100):
        loss, _ = method.forward_loss(batch, model)
        first = loss.item() if first is None else first
        loss.backward()
        method.after_backward(model)
        opt.step()
        opt.zero_grad()
    assert loss.item() < 0.4 * first  # e.g. 9.1 -> 2.5
    parse = lamol_parser(tok, method.tokens.ans_id, tok.eos_token_id)
    pairs, stats = generate_samples(
        model.eval(), [method.tokens.gen_id(0)], 16, parse, max_length=24,
        eos_id=tok.eos_token_id, sampling=Sampling(), seed=1, progress=False,
    )  # fmt: skip
    assert stats.kept >= 1 and len(pairs) == stats.kept
    assert all(x and y for x, y in pairs)

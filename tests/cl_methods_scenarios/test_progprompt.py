"""ProgPrompt (spec §2.9): progressive prompts + per-task residual MLPs on a frozen causal LM."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cl_methods import RunInfo, TrainTask, build_method
from cl_methods.classic.progressive_prompts import (
    ProgressivePromptClassifier,
    ProgressivePromptLM,
    ProgressivePromptView,
    ResidualMLP,
)
from cl_methods.method import TaskContext

PAD = 0


def rows_of(lo: int, n: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        start = int(torch.randint(0, 6, (1,), generator=g))
        length = int(torch.randint(4, 8, (1,), generator=g))
        out.append({"ids": [lo + (start + k) % 6 for k in range(length)]})
    return out


def lm_collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["ids"]) for r in rows)
    ids = torch.tensor([[PAD] * (width - len(r["ids"])) + r["ids"] for r in rows])
    mask = torch.tensor([[0] * (width - len(r["ids"])) + [1] * len(r["ids"]) for r in rows])
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def method(**kw):
    cfg = {"num_virtual_tokens": 3, "mlp_hidden": 8, "num_tasks": 3, "first_token_id": 4, **kw}
    return build_method("progprompt", cfg)


def test_every_prompt_row_is_initialised_row0_from_the_first_token(tiny):
    llama = tiny.llama()
    table = llama.get_input_embeddings().weight.detach().clone()
    model = method().prepare(llama)
    assert isinstance(model, ProgressivePromptLM) and len(model.prompts) == 3
    for p in model.prompts:
        assert torch.equal(p[0], table[4])
        for row in p[1:]:  # each row is some vocabulary row (none left at zero)
            assert (table - row).abs().sum(-1).min() == 0 and row.abs().sum() > 0
    assert not torch.equal(model.prompts[0][1:], model.prompts[1][1:])  # one draw per task


def test_residual_mlp_formula():
    torch.manual_seed(0)
    mlp = ResidualMLP(6, 10)
    x = torch.randn(3, 6)
    l1, l2, l3 = mlp.net[0], mlp.net[2], mlp.net[4]
    want = x + l3(torch.tanh(l2(torch.relu(l1(x)))))
    assert torch.allclose(mlp(x), want) and l1.out_features == 10 and l2.out_features == 10


def test_loss_on_hand_made_input_uses_all_prompts_before_the_text(tiny):
    model = method().prepare(tiny.llama()).eval()
    model.finish_task(0)  # P'_0 stored; task 1 trains through MLP_1
    model.active_prompt = 1
    ids = torch.tensor([[5, 9, 7, 3, 11]])
    labels = ids.clone()
    labels[0, :2] = -100
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
    prompt = torch.cat([model.prompts[0], model.mlps[1](model.prompts[1])])
    assert prompt.shape == (6, 16)
    embeds = torch.cat([prompt[None], model.lm.get_input_embeddings()(ids)], 1)
    full = model.lm(inputs_embeds=embeds).logits
    n = 6
    want = torch.stack([F.cross_entropy(full[0, n + i - 1], ids[0, i]) for i in (2, 3, 4)]).mean()
    assert torch.allclose(out.loss, want, atol=1e-6)
    assert torch.allclose(out.logits, full[:, n:], atol=1e-6)


def test_gradients_reach_only_the_current_prompt_and_mlp(tiny):
    m = method()
    model = m.prepare(tiny.llama())
    for t in range(2):
        m.on_task_start(TaskContext(index=t, name=f"t{t}", num_tasks=3), model)
        if t == 0:
            m.on_task_end(TaskContext(index=0, name="t0", num_tasks=3), model)
    model.train()
    model(**lm_collate(rows_of(10, 4, 0))).loss.backward()
    assert model.prompts[1].grad is not None and model.prompts[1].grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.mlps[1].parameters())
    assert model.prompts[0].grad is None and model.prompts[2].grad is None
    for k in (0, 2):
        assert all(p.grad is None for p in model.mlps[k].parameters())
    assert all(p.grad is None for p in model.lm.parameters())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"prompts.1"} | {f"mlps.1.{n}" for n, _ in model.mlps[1].named_parameters()}
    opt = m.configure_optimizer(
        list(model.parameters()), lambda ps: torch.optim.AdamW(ps, weight_decay=0.5)
    )
    assert all(g["weight_decay"] == 0.0 for g in opt.param_groups)


def test_three_tasks_old_prompts_stay_bit_identical_and_eval_uses_p0_to_pj(tiny, tmp_path):
    llama = tiny.llama()
    body = {k: v.clone() for k, v in llama.state_dict().items()}
    m = method()
    m.bind_run(RunInfo(num_tasks=3, task_names=("t0", "t1", "t2"), scenario="TIL"))
    seen = []

    def evaluate(view, task, acc):
        assert isinstance(view, ProgressivePromptView)
        seen.append((task.name, view.task, [p.detach().clone() for p in view.model.prompts]))
        return 0.0

    tasks = [
        TrainTask(name=f"t{i}", train=rows_of(lo, 12, seed=i), collate=lm_collate)
        for i, lo in enumerate((2, 12, 22))
    ]
    trainer, _ = tiny.run(llama, m, tasks, tmp_path, evaluate=evaluate)
    model = trainer.model
    assert [(n, j) for n, j, _ in seen] == [
        ("t0", 0), ("t0", 0), ("t1", 1), ("t0", 0), ("t1", 1), ("t2", 2)
    ]  # fmt: skip
    after = {0: seen[0][2], 1: seen[2][2], 2: seen[5][2]}
    for t in range(3):  # prompt t is final after task t and never moves again
        for later in range(t, 3):
            assert torch.equal(after[later][t], model.prompts[t])
    assert model.finished == 3 and model.active_prompt == 2
    for k, v in llama.state_dict().items():
        assert torch.equal(v, body[k]), k
    # the view decodes task 1 with P'_0, P'_1 (the stored reparameterised rows), no MLP
    ids = torch.tensor([[12, 13, 14]])
    got = ProgressivePromptView(model, 1).eval()(input_ids=ids).logits
    embeds = torch.cat([model.prompts[0], model.prompts[1], llama.get_input_embeddings()(ids[0])])
    want = llama(inputs_embeds=embeds[None]).logits[:, 6:]
    assert torch.allclose(got, want, atol=1e-5) and model.active_prompt == 2


def test_cil_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match=r"task-incremental only.*not CIL"):
        method().bind_run(RunInfo(num_tasks=2, task_names=("a", "b"), scenario="CIL"))
    with pytest.raises(ValueError, match="il_mode must be TIL or IIL"):
        build_method("progprompt", {"il_mode": "CIL"})


# -- the encoder input with per-task heads (TIL) ------------------------------------------------
def heads_method(**kw):
    cfg = {"num_virtual_tokens": 2, "mlp_hidden": 8, "first_token_id": 5, "strip_token_id": 1}
    return build_method("progprompt", {**cfg, **kw})


def test_encoder_layout_positions_and_feature_at_the_task_cls(bert_heads):
    m = heads_method()
    model = m.prepare(bert_heads(il_mode="TIL"))
    assert isinstance(model, ProgressivePromptClassifier)
    model.finish_task(0)
    ids = torch.tensor([[1, 7, 8, 9], [1, 7, 8, 0]])  # CLS x, right padded
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    inputs, at = model.layout(ids, mask, task=1)
    # CLS dropped; x then P_0 (2 rows) and P_1 (2 rows); pads stay at the end
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]]
    assert inputs["position_ids"].tolist() == [[1, 2, 3, 0, 4, 0, 5], [1, 2, 0, 3, 0, 4, 0]]
    assert at.tolist() == [5, 4]  # P_1's first token
    emb = model.base.backbone.get_input_embeddings()
    prompt = torch.cat([model.prompts[0], model.mlps[1](model.prompts[1])])
    assert torch.allclose(inputs["inputs_embeds"][1, 2:6], prompt)
    assert torch.allclose(inputs["inputs_embeds"][0, :3], emb(ids[0, 1:]))
    feats = model.features(ids, mask, task=1)
    states = model.base.backbone(**inputs).last_hidden_state
    assert torch.allclose(feats, states[[0, 1], [5, 4]], atol=1e-6)
    # the first row of every prompt is the CLS/BOS embedding at init
    table = emb.weight
    fresh = heads_method().prepare(bert_heads(il_mode="TIL"))
    assert all(torch.equal(p[0], table[5]) for p in fresh.prompts)


def test_encoder_progprompt_trains_only_p_t_mlp_t_and_head_t(bert_heads, tiny, tmp_path, space):
    base = bert_heads(il_mode="TIL")
    body = {k: v.clone() for k, v in base.backbone.state_dict().items()}
    m = heads_method()
    seen = []

    def evaluate(model, task, acc):
        seen.append([p.detach().clone() for p in model.prompts])
        j = int(task.name[1])
        batch = tiny.collate(task.test)
        logits = model.predict_logits(
            {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}, j
        )
        assert logits.shape[-1] == space.cur_num_class[j]
        return 0.0

    trainer, _ = tiny.run(base, m, tiny.tasks(space), tmp_path, evaluate=evaluate)
    model = trainer.model
    assert torch.equal(seen[0][0], model.prompts[0]) and torch.equal(seen[1][0], seen[2][0])
    for k, v in body.items():
        assert torch.equal(model.base.backbone.state_dict()[k], v), k
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="task-incremental only"):
        heads_method().prepare(bert_heads(il_mode="CIL"))


def test_progressive_prompt_learns_a_task_on_a_steerable_frozen_lm():
    """A frozen random LM drawn with std 0.3 (std 0.02 leaves its logits almost input-free):
    training only P_0 and MLP_0 fits a periodic sequence task."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=1, bos_token_id=None, initializer_range=0.3,
    )  # fmt: skip
    m = method(num_tasks=1, mlp_hidden=64)
    model = m.prepare(LlamaForCausalLM(cfg))
    m.on_task_start(TaskContext(index=0, name="t0", num_tasks=1), model)
    opt = m.configure_optimizer(
        [p for p in model.parameters() if p.requires_grad],
        lambda ps: torch.optim.AdamW(ps, lr=1e-2),
    )
    batch = lm_collate(rows_of(10, 8, 0))
    losses = []
    for _ in range(80):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])

"""Per-task PEFT (spec §2.3) and the LoRA family with classifier heads."""

from __future__ import annotations

import torch

from cl_methods import ContinualTrainer, TrainerConfig, TrainTask, build_method
from cl_methods.classic import ClassificationEvaluator, task_adapter_weights
from cl_methods.classic.task_lora import set_active_adapter
from cl_methods.methods.peft_task import NLLSelectView


def adapter_state(model, task):
    return {
        n: (a.detach().clone(), b.detach().clone())
        for n, (a, b) in task_adapter_weights(model, task).items()
    }


def test_old_adapters_and_heads_stay_bit_identical(bert_heads, space, tiny, tmp_path):
    model = bert_heads(il_mode="TIL")
    method = build_method("peft", {"targets": ["query", "value"]})
    seen = []

    def evaluate(m, task, acc):
        seen.append((adapter_state(model, 0), model.heads[0].weight.detach().clone()))
        return 0.0

    body = {k: v.clone() for k, v in model.backbone.embeddings.state_dict().items()}
    tiny.run(model, method, tiny.tasks(space), tmp_path, evaluate=evaluate)
    adapters0, head0 = seen[0]
    for name, (a, b) in adapter_state(model, 0).items():
        assert torch.equal(a, adapters0[name][0]) and torch.equal(b, adapters0[name][1])
    assert torch.equal(head0, model.heads[0].weight)
    assert any(not torch.equal(b, torch.zeros_like(b)) for _, b in adapter_state(model, 1).values())
    for k, v in model.backbone.embeddings.state_dict().items():
        assert torch.equal(v, body[k])  # the backbone is frozen


def test_til_uses_adapter_j_and_cil_concatenates_every_adapter(bert_heads, space, tiny, tmp_path):
    model = bert_heads()
    method = build_method("peft", {"targets": ["query", "value"]})
    tasks = tiny.tasks(space, per_class=6)
    tiny.run(model, method, tasks, tmp_path)
    view = method.eval_model(model)
    batch = tiny.collate(tasks[0].test)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    model.eval()
    with torch.no_grad():
        set_active_adapter(model, 0)
        want0 = model.heads[0](model.features(**inputs))
        set_active_adapter(model, 1)
        want1 = model.heads[1](model.features(**inputs))
        assert torch.allclose(view.predict_logits(inputs, 0), want0)
        assert torch.allclose(view.predict_logits(inputs, None), torch.cat([want0, want1], -1))
    ev = ClassificationEvaluator(
        make_inputs=lambda r: {k: v for k, v in tiny.collate(r).items() if k != "labels"},
        label_of=lambda r: r["label"],
        labels=space,
        task_names=["t0", "t1"],
        il_mode="TIL",
    )

    class Acc:
        device = torch.device("cpu")

    score = ev(view, tasks[1], Acc())
    assert score.total == len(tasks[1].test)
    assert all(0 <= r["prediction"] < 3 for r in score.predictions)  # task-local labels


def test_generative_cil_adapter_selection_beats_chance(tiny, tmp_path):
    """Two tasks whose prompts use disjoint tokens; each adapter learns its own task's LM.
    Choosing the adapter by the lowest prompt NLL must pick the right one far above 50%."""
    model = tiny.llama()
    method = build_method("peft", {"r": 4, "alpha": 8, "dropout": 0.0})

    def rows(lo):
        g = torch.Generator().manual_seed(lo)
        out = []
        for _ in range(24):
            start = int(torch.randint(0, 8, (1,), generator=g))
            out.append({"ids": [lo + (start + k) % 8 for k in range(8)], "label": 0})
        return out

    def lm_collate(batch):
        ids = torch.tensor([r["ids"] for r in batch])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}

    tasks = [
        TrainTask(name=f"t{i}", train=rows(lo), collate=lm_collate) for i, lo in enumerate((2, 20))
    ]
    cfg = TrainerConfig(
        output_dir=str(tmp_path),
        epochs=6,
        lr=3e-2,
        batch_size=8,
        seed=1,
        log_with=(),
        progress=False,
        max_grad_norm=0.0,
    )
    ContinualTrainer(model, method, cfg).fit(tasks)
    view = method.eval_model(model, "t0")
    assert isinstance(view, NLLSelectView)
    test = [lm_collate(rows(2)[:8]), lm_collate(rows(20)[:8])]
    model.eval()
    right = 0
    for want, batch in enumerate(test):
        nll = view.prompt_nll(batch["input_ids"], batch["attention_mask"])
        right += int((nll.argmin(0) == want).sum())
    assert right / 16 > 0.75
    out = view.generate(
        test[0]["input_ids"][:2, :4],
        test[0]["attention_mask"][:2, :4],
        max_new_tokens=3,
        do_sample=False,
        pad_token_id=0,
    )
    assert out.shape[0] == 2 and out.shape[1] <= 7


def test_lora_family_trains_the_current_head_with_its_own_lr(bert_heads, space, tiny, tmp_path):
    for name in ("seqlora", "inclora", "olora"):
        model = bert_heads()
        method = build_method(
            name,
            {"targets": ["query", "value"], "train_also": ["heads.{task}"], "train_also_lr": 5e-3},
        )
        heads = []
        tiny.run(
            model,
            method,
            tiny.tasks(space),
            tmp_path / name,
            evaluate=lambda m, t, a, heads=heads: (
                heads.append(m.heads[0].weight.detach().clone()) or 0.0
            ),
        )
        assert torch.equal(heads[0], model.heads[0].weight), name  # head 0 frozen in task 1
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert "heads.1.weight" in trainable and "heads.0.weight" not in trainable
        assert all(n.startswith("heads.1") or "lora_" in n for n in trainable), trainable


def test_prompt_tuning_per_task_keeps_old_prompts_and_backbone(bert_heads, space, tiny, tmp_path):
    model = bert_heads(il_mode="TIL", feature="cls_token")
    method = build_method(
        "peft", {"adapter": "prompt_tuning", "num_virtual_tokens": 3, "prompt_init_ids": [5, 6]}
    )
    body = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    seen = []
    tiny.run(
        model,
        method,
        tiny.tasks(space),
        tmp_path,
        evaluate=lambda m, t, a: seen.append(model.prompts[0].detach().clone()) or 0.0,
    )
    table = model.backbone.get_input_embeddings().weight
    assert model.prompts[0].shape == (3, 16)
    assert not torch.equal(model.prompts[1], table[[5, 6, 5]])  # task 1's prompt trained
    assert torch.equal(seen[0], model.prompts[0])  # task 0's prompt frozen afterwards
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, body[k])
    batch = tiny.collate(tiny.rows(space, 0, 1))
    model.active_prompt = 0
    with_prompt = model.features(batch["input_ids"], batch["attention_mask"])
    model.active_prompt = -1
    assert not torch.allclose(
        with_prompt, model.features(batch["input_ids"], batch["attention_mask"])
    )


def test_each_task_adapter_opens_in_peft_with_the_same_outputs(tiny, tmp_path):
    """The per-task LoRA adapters are PEFT's; each task's folder, opened with
    ``PeftModel.from_pretrained(base, folder)``, computes what the method's model computes with
    that task's adapter active."""
    from peft import PeftModel

    from cl_methods.methods.peft_task import set_active

    model = tiny.llama()
    method = build_method("peft", {"il_mode": "TIL", "dropout": 0.0})

    def lm_collate(batch):
        ids = torch.tensor([r["ids"] for r in batch])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}

    rows = [{"ids": [2 + (k + j) % 9 for j in range(6)]} for k in range(8)]
    tasks = [TrainTask(f"t{i}", rows, lm_collate) for i in range(2)]
    cfg = TrainerConfig(
        output_dir=str(tmp_path), epochs=2, lr=5e-2, batch_size=4, log_with=(), progress=False
    )
    ContinualTrainer(model, method, cfg).fit(tasks)
    ids = torch.tensor([r["ids"] for r in rows[:3]])
    model.eval()
    for t in range(2):
        folder = tmp_path / "tasks" / f"{t:02d}_t{t}"
        peft_model = PeftModel.from_pretrained(tiny.llama(), str(folder)).eval()
        set_active(model, t)
        with torch.no_grad():
            want, got = model(input_ids=ids).logits, peft_model(input_ids=ids).logits
            base = tiny.llama()(input_ids=ids).logits
        assert (got - want).abs().max() < 1e-5
        assert (want - base).abs().max() > 1e-4  # the adapter was trained and matters

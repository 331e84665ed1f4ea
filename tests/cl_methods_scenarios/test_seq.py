"""SEQ and its SEQ* options on tiny models (spec §2.1, §6 Heads/SEQ*)."""

from __future__ import annotations

import copy

import pytest
import torch

from cl_methods import build_method
from cl_methods.classic import ClassifierModel, class_means
from cl_methods.methods.seq import _layer_index


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_plain_seq_trains_the_encoder_and_the_heads(bert_heads, space, tiny, tmp_path):
    model = bert_heads()
    body0, heads0 = snapshot(model.backbone), snapshot(model.heads)
    tiny.run(model, build_method("seq"), tiny.tasks(space), tmp_path)
    assert not same(body0, snapshot(model.backbone))  # the backbone really trains
    assert not torch.equal(heads0["0.weight"], model.heads[0].weight)
    assert not torch.equal(heads0["1.weight"], model.heads[1].weight)


def test_fix_old_classifier_keeps_old_heads_bit_identical(bert_heads, space, tiny, tmp_path):
    model = bert_heads()
    seen = []
    tiny.run(
        model,
        build_method("seq", {"fix_old_classifier": True}),
        tiny.tasks(space),
        tmp_path,
        evaluate=lambda m, t, a: seen.append(snapshot(m.heads[0])) or 0.0,
    )
    assert same(seen[0], snapshot(model.heads[0]))  # head 0 after task 0 == at the end


def test_fix_encoder_without_warmup_never_trains_the_backbone(bert_heads, space, tiny, tmp_path):
    model = bert_heads(head="cosine")
    body0 = snapshot(model.backbone)
    tiny.run(model, build_method("seq", {"fix_encoder": True}), tiny.tasks(space), tmp_path)
    assert same(body0, snapshot(model.backbone))
    assert all(not p.requires_grad for p in model.backbone.parameters())


def test_warmup_moves_the_backbone_only_during_warmup(bert_heads, space, tiny, tmp_path):
    model = bert_heads()
    body0 = snapshot(model.backbone)
    method = build_method("seq", {"fix_encoder": True, "warmup_epochs": 2})
    tasks = tiny.tasks(space)
    assert method.extra_epochs(0) == 2 and method.extra_epochs(1) == 0
    # the trainer adds the warm-up epochs to the configured one
    after = []
    _, result = tiny.run(
        model,
        method,
        tasks,
        tmp_path,
        evaluate=lambda m, t, a: after.append(snapshot(m.backbone)) or 0.0,
    )
    # the trainer adds the warm-up epochs to task 0's configured one
    assert result.train_stats[0]["epochs"] == 3 and result.train_stats[1]["epochs"] == 1
    assert not same(body0, after[0])  # the warm-up trained it
    assert same(after[0], snapshot(model.backbone))  # frozen for good afterwards
    assert method.encoder_frozen
    body = {id(p) for p in model.backbone.parameters()}
    assert all(id(p) not in body for g in method.optimizer.param_groups for p in g["params"])


def test_warmup_epochs_freeze_at_the_right_step(bert_heads, space, tiny, tmp_path):
    """Backbone changes in warm-up steps only: a 1-epoch warm-up + 1 epoch equals, for the
    backbone, a run of the warm-up epoch alone."""
    tasks = tiny.tasks(space)[:1]
    a, b = bert_heads(), bert_heads()
    m1 = build_method("seq", {"fix_encoder": True, "warmup_epochs": 1})  # 1 + 1 epochs
    tiny.run(a, m1, tasks, tmp_path / "a")
    tasks2 = tiny.tasks(space)[:1]
    tiny.run(b, build_method("seq"), tasks2, tmp_path / "b")
    assert same(snapshot(a.backbone), snapshot(b.backbone))


def test_prototypes_equal_the_class_means(bert_heads, space, tiny, tmp_path):
    model = bert_heads(head="cosine")
    method = build_method(
        "seq", {"fix_encoder": True, "prototype_prediction": True, "preallocated_classifier": True}
    )
    tasks = tiny.tasks(space)
    tiny.run(model, method, tasks, tmp_path)
    model.eval()
    for t, task in enumerate(tasks):
        batch = tiny.collate(task.train)
        with torch.no_grad():
            feats = model.features(batch["input_ids"], batch["attention_mask"])
        want = class_means(feats, batch["labels"] - space.pre_accum[t], space.cur_num_class[t])
        assert torch.allclose(model.heads[t].weight, want, atol=1e-5)


def test_unfrozen_generative_backbone_receives_gradients(space, tiny):
    model = ClassifierModel(tiny.llama(), space, generative=True, head="cosine")
    batch = tiny.collate(tiny.rows(space, 0, 2))
    model(**batch).loss.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_causal_lm_warmup_leaves_heads_untouched(space, tiny, tmp_path):
    model = ClassifierModel(tiny.llama(), space, generative=True)
    heads0 = snapshot(model.heads)
    method = build_method("seq", {"warmup_epochs": 1, "warmup_target": "causal-lm"})
    tasks = tiny.tasks(space)[:1]
    tasks[0].params["epochs"] = 0  # + 1 warm-up epoch: one epoch, all of it warm-up
    _, result = tiny.run(model, method, tasks, tmp_path)
    assert result.train_stats[0]["epochs"] == 1
    assert same(heads0, snapshot(model.heads))
    with pytest.raises(ValueError, match="generative"):
        build_method("seq", {"warmup_epochs": 1, "warmup_target": "causal-lm"}).prepare(
            ClassifierModel(tiny.bert(), space)
        )


def test_shared_lora_trains_only_adapters_and_heads(bert_heads, space, tiny, tmp_path):
    model = bert_heads()
    base = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    method = build_method("seq", {"peft_type": "lora", "lora_targets": ["query", "value"]})
    tiny.run(model, method, tiny.tasks(space), tmp_path)
    names = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    now = model.backbone.state_dict()
    for key, value in base.items():
        mapped = (
            key
            if key in now
            else key.replace(".weight", ".base.weight").replace(".bias", ".base.bias")
        )
        assert torch.equal(value, now[mapped]), key


def test_freeze_layers_match_indices_numerically(bert_heads, space, tiny, tmp_path):
    assert _layer_index("encoder.layer.1.attention.self.query.weight") == 1
    assert _layer_index("encoder.layer.10.output.dense.weight") == 10
    assert _layer_index("embeddings.word_embeddings.weight") is None
    model = bert_heads()
    method = build_method("seq", {"freeze_layers": (1,), "freeze_embeddings": True})
    method.prepare(model)
    grads = {n: p.requires_grad for n, p in model.backbone.named_parameters()}
    assert not grads["encoder.layer.1.attention.self.query.weight"]
    assert grads["encoder.layer.0.attention.self.query.weight"]
    assert not grads["embeddings.word_embeddings.weight"]


def test_same_seed_same_first_loss_and_nan_step_changes_nothing(bert_heads, space, tiny, tmp_path):
    losses = []
    for k in range(2):
        model = bert_heads()
        _, result = tiny.run(model, build_method("seq"), tiny.tasks(space)[:1], tmp_path / str(k))
        losses.append(result.train_stats[0]["mean_loss"])
    assert losses[0] == losses[1]

    class NaNSeq(type(build_method("seq"))):
        def forward_loss(self, batch, model):
            return torch.tensor(float("nan"), requires_grad=True), None

    model = bert_heads()
    before = snapshot(model)
    method = NaNSeq(copy.deepcopy(build_method("seq").config))
    trainer, _ = tiny.run(model, method, tiny.tasks(space)[:1], tmp_path / "nan")
    assert same(before, snapshot(model)) and trainer.skipped_steps == 2


def test_shared_prompt_tuning_trains_one_prompt_and_the_heads(bert_heads, space, tiny, tmp_path):
    model = bert_heads()
    body = snapshot(model.backbone)
    method = build_method("seq", {"peft_type": "prompt_tuning", "num_virtual_tokens": 2})
    method.prepare(model)
    prompt0 = model.prompts[0].detach().clone()
    tiny.run(model, method, tiny.tasks(space), tmp_path)
    assert not torch.equal(prompt0, model.prompts[0])
    assert same(body, snapshot(model.backbone)) and model.active_prompt == 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "prompts.0" in trainable and "prompts.1" not in trainable
    assert all(n.startswith(("heads.", "prompts.0")) for n in trainable)

"""Label spaces, heads and the CIL/TIL logits and losses (spec §1, §6 Heads)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cl_methods.classic import ClassifierModel, CosineLinear, LabelSpace, TaskHeads


def test_label_space_ranges_and_til_labels():
    space = LabelSpace((3, 2, 4))
    assert space.accum == (3, 5, 9) and space.pre_accum == (0, 3, 5) and space.num_classes == 9
    assert [space.til_label(y) for y in range(9)] == [0, 1, 2, 0, 1, 0, 1, 2, 3]
    for y in range(9):
        t = space.task_of(y)
        assert 0 <= space.til_label(y) < space.cur_num_class[t]
    assert space.tasks_of(torch.tensor([0, 2, 3, 4, 5, 8])).tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        space.check_labels([2, 3], task=0)
    cfg = {
        "CUR_NUM_CLASS": [3, 2, 4],
        "ACCUM_NUM_CLASS": [3, 5, 9],
        "PRE_ACCUM_NUM_CLASS": [0, 3, 5],
        "NUM_TASK": 3,
    }
    assert LabelSpace.from_config(cfg) == space
    with pytest.raises(ValueError, match="ACCUM"):
        LabelSpace.from_config({**cfg, "ACCUM_NUM_CLASS": [3, 5, 8]})


@pytest.mark.parametrize("scale", [1.0, 16.0])
def test_cosine_logits_lie_in_minus_s_to_s(scale):
    head = CosineLinear(8, 5, scale=scale)
    x = torch.randn(64, 8) * 100
    logits = head(x)
    assert logits.abs().max() <= scale + 1e-5
    assert "scale" not in dict(head.named_parameters())  # fixed by default (spec DECISION)
    assert "scale" in dict(CosineLinear(8, 5, 16.0, learnable_scale=True).named_parameters())


def test_linear_head_init_bound_and_bias():
    heads = TaskHeads(25, (3, 4), "linear")
    assert heads[0].bias is not None
    assert heads[1].weight.abs().max() <= 1 / 5 + 1e-6
    assert TaskHeads(8, (2,), "cosine", cosine_scale_learnable=True)[0].scale.item() == 16.0


def test_cil_logits_seen_heads_and_preallocation(bert_heads, space):
    model = bert_heads(preallocated=True)
    ids = torch.randint(2, 40, (3, 6))
    model.begin_task(0)
    model.train()
    assert model(ids).logits.shape == (3, space.num_classes)  # all T heads while training
    model.eval()
    assert model(ids).logits.shape == (3, 2)  # evaluation: seen heads only
    model.begin_task(1)
    assert model(ids).logits.shape == (3, 5)
    plain = bert_heads()
    plain.train()
    plain.begin_task(0)
    assert plain(ids).logits.shape == (3, 2)


def test_til_loss_is_the_sum_of_per_head_ce(bert_heads, space):
    model = bert_heads(il_mode="TIL")
    model.begin_task(1)
    ids = torch.randint(2, 40, (4, 6))
    labels = torch.tensor([0, 3, 1, 4])  # tasks 0, 1, 0, 1
    out = model(ids, labels=labels)
    f = out.features
    want = F.cross_entropy(model.heads[0](f[[0, 2]]), torch.tensor([0, 1])) + F.cross_entropy(
        model.heads[1](f[[1, 3]]), torch.tensor([1, 2])
    )
    assert torch.allclose(out.loss, want)
    cil = bert_heads(il_mode="CIL")
    cil.begin_task(1)
    out = cil(ids, labels=labels)
    assert torch.allclose(out.loss, F.cross_entropy(out.logits, labels))


def test_features_cls_and_last_token(space, tiny):
    enc = ClassifierModel(tiny.bert(), space, feature="last_token")
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 0, 0]])
    mask = (ids != 0).long()
    states = enc.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(enc.features(ids, mask), states[[0, 1], [2, 1]])
    gen = ClassifierModel(tiny.llama(), space, generative=True)
    assert gen.feature == "last_token"
    left = torch.tensor([[0, 5, 6], [7, 8, 9]])
    hidden = gen.backbone(
        input_ids=left, attention_mask=(left != 0).long(), output_hidden_states=True
    ).hidden_states[-1]
    assert torch.allclose(gen.features(left, (left != 0).long()), hidden[:, -1])

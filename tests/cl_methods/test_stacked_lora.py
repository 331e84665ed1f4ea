import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from cl_methods.adapters import (
    LoRAConfig,
    StackedLoRALinear,
    append_new_adapters,
    attach_stacked_lora,
    freeze_all_but_new_adapters,
    load_peft_adapter,
    merge_stacked_lora,
    paper_targets,
    save_peft_adapter,
    stacked_lora_layers,
)


def _randomise_new(model, scale=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in stacked_lora_layers(model).values():
            layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=g) * scale)
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g) * scale)


def test_t5_targets_count_and_names(toy):
    model = toy.tiny_t5()
    layers = attach_stacked_lora(model, LoRAConfig(targets=paper_targets(model)))
    # 2 encoder blocks x (q, v) + 2 decoder blocks x (self q, v + cross q, v): T5-large gives 144
    assert len(layers) == 2 * 2 + 2 * 4
    assert all(name.endswith((".q", ".v")) for name in layers)


def test_llama_targets_and_gqa_shapes():
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    model = LlamaForCausalLM(cfg)
    assert paper_targets(model) == ("q_proj", "v_proj")
    layers = attach_stacked_lora(model, LoRAConfig(targets=("q_proj", "v_proj")))
    assert len(layers) == 4
    v = layers["model.layers.0.self_attn.v_proj"]
    assert v.lora_B.shape == (16, 8) and v.lora_A.shape == (8, 32)


def test_no_match_is_a_clear_error(toy):
    with pytest.raises(ValueError, match=r"match no nn.Linear.*SelfAttention"):
        attach_stacked_lora(toy.tiny_t5(), LoRAConfig(targets=("query",)))


def test_init_is_identity_and_only_new_adapters_train(toy):
    model = toy.tiny_t5()
    x = torch.randint(3, 200, (2, 7))
    before = model(input_ids=x, decoder_input_ids=x).logits
    attach_stacked_lora(model, LoRAConfig())
    trainable = freeze_all_but_new_adapters(model)
    after = model(input_ids=x, decoder_input_ids=x).logits
    torch.testing.assert_close(before, after)  # B = 0 at init
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.endswith(("lora_A", "lora_B")) for n in names)
    assert len(trainable) == len(names)
    layer = next(iter(stacked_lora_layers(model).values()))
    assert not layer.lora_A_old.requires_grad and layer.r_sum == 0


def test_stacking_equals_sum_of_task_updates():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = StackedLoRALinear(base, r=2, alpha=4.0, dropout=0.0)
    deltas = []
    for task in range(3):
        with torch.no_grad():
            layer.lora_A.normal_()
            layer.lora_B.normal_()
        deltas.append(2.0 * layer.lora_B.detach() @ layer.lora_A.detach())
        if task < 2:
            layer.append_new()
    assert layer.r_sum == 4 and layer.task_ranks == [2, 2]
    x = torch.randn(3, 6)
    expected = base(x) + x @ sum(deltas).T
    torch.testing.assert_close(layer(x), expected)
    for k in range(2):
        a, b = layer.task_slice(k)
        torch.testing.assert_close(2.0 * b @ a, deltas[k])


def test_one_dropout_mask_feeds_both_branches():
    base = nn.Linear(8, 4, bias=False)
    layer = StackedLoRALinear(base, r=2, alpha=2.0, dropout=0.5)
    with torch.no_grad():
        layer.lora_A.normal_()
        layer.lora_B.normal_()
    layer.append_new()
    with torch.no_grad():
        layer.lora_A.normal_()
        layer.lora_B.normal_()
    layer.train()
    x = torch.randn(5, 8)
    torch.manual_seed(3)
    y = layer(x)
    torch.manual_seed(3)
    xd = torch.nn.functional.dropout(x, 0.5, True)
    expected = base(x) + xd @ layer.delta_weight().T
    torch.testing.assert_close(y, expected)


def test_earlier_adapters_never_change_while_training(toy):
    model = toy.tiny_t5()
    attach_stacked_lora(model, LoRAConfig())
    _randomise_new(model)
    append_new_adapters(model)
    freeze_all_but_new_adapters(model)
    old = {n: l.lora_A_old.clone() for n, l in stacked_lora_layers(model).items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randint(3, 200, (2, 6))
    for _ in range(3):
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
    for n, layer in stacked_lora_layers(model).items():
        torch.testing.assert_close(layer.lora_A_old, old[n], rtol=0, atol=0)
        assert layer.lora_B.abs().sum() > 0


def test_save_load_per_task_and_merge(toy, tmp_path):
    model = toy.tiny_t5()
    attach_stacked_lora(model, LoRAConfig())
    _randomise_new(model, seed=1)
    save_peft_adapter(model, tmp_path / "t0")
    append_new_adapters(model)
    _randomise_new(model, seed=2)
    save_peft_adapter(model, tmp_path / "t1")
    model.eval()
    x = torch.randint(3, 200, (2, 9))
    ref = model(input_ids=x, decoder_input_ids=x).logits

    fresh = toy.tiny_t5()
    attach_stacked_lora(fresh, LoRAConfig())
    load_peft_adapter(fresh, tmp_path / "t0", into="stack")
    load_peft_adapter(fresh, tmp_path / "t1", into="new")
    fresh.eval()
    torch.testing.assert_close(fresh(input_ids=x, decoder_input_ids=x).logits, ref)

    merged = merge_stacked_lora(fresh)
    assert not stacked_lora_layers(merged)
    torch.testing.assert_close(
        merged(input_ids=x, decoder_input_ids=x).logits, ref, rtol=1e-4, atol=1e-5
    )


def test_state_dict_round_trip_resizes_the_stack(toy):
    model = toy.tiny_t5()
    attach_stacked_lora(model, LoRAConfig())
    for seed in range(2):
        _randomise_new(model, seed=seed)
        append_new_adapters(model)
    fresh = toy.tiny_t5()
    attach_stacked_lora(fresh, LoRAConfig())
    fresh.load_state_dict(model.state_dict())
    for (n, a), b in zip(stacked_lora_layers(model).items(), stacked_lora_layers(fresh).values()):
        assert b.task_ranks == [8, 8], n
        torch.testing.assert_close(a.lora_B_old, b.lora_B_old, rtol=0, atol=0)


def test_bad_adapter_file(toy, tmp_path):
    model = toy.tiny_t5()
    attach_stacked_lora(model, LoRAConfig())
    with pytest.raises(FileNotFoundError, match="not a PEFT adapter folder"):
        load_peft_adapter(model, tmp_path / "nope")
    other = toy.tiny_t5()
    attach_stacked_lora(other, LoRAConfig(targets=("q",)))
    save_peft_adapter(other, tmp_path / "q")
    with pytest.raises(ValueError, match="do not match"):
        load_peft_adapter(model, tmp_path / "q")

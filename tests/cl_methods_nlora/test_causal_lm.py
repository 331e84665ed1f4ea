"""The causal-LM path on a tiny LLaMA: prompt-masked loss, left-padded generation that decodes only
the continuation, every stacked-adapter method and the baselines in the trainer, bf16."""

import math

import torch
from accelerate import Accelerator

from cl_methods.adapters import stacked_lora_layers


def test_training_batches_mask_the_prompt(llama_toy):
    feature = llama_toy.ENCODER.encode("colors: red\nAnswer:", "warm")
    batch = llama_toy.ENCODER.collate([feature])
    prompt = len(llama_toy.ENCODER.prompt_ids("colors: red\nAnswer:"))
    assert (batch["labels"][0, :prompt] == -100).all()
    assert (batch["labels"][0, prompt:] != -100).all()


def test_left_padded_batch_decodes_only_the_continuation(llama_toy):
    torch.manual_seed(0)
    model = llama_toy.tiny_llama(seed=3).eval()
    rows = [llama_toy.Example(src, "x") for src in ("a", "a much longer prompt here", "mid one")]
    evaluator = llama_toy.evaluator(max_new_tokens=5)
    acc = Accelerator(cpu=True)
    batched = [p for p, _ in evaluator.predict(model, rows, acc)]
    evaluator.batch_size = 1
    alone = [p for p, _ in evaluator.predict(model, rows, acc)]
    assert batched == alone  # left padding does not change what is generated
    for row, pred in zip(rows, alone, strict=True):
        ids = torch.tensor([llama_toy.ENCODER.prompt_ids(row.source)])
        out = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=0)
        new = llama_toy.TOKENIZER.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        assert pred == new.strip()


def test_every_lora_method_and_the_baselines_run_on_llama(llama_toy, tmp_path):
    for name in ("nlora", "olora", "inclora", "seqlora", "seqft", "mtl"):
        result, trainer = llama_toy.run(str(tmp_path / name), name, epochs=1)
        rows = 1 if name == "mtl" else 2
        assert len(result.matrix) == rows and result.matrix[-1][1] is not None, name
        assert all(math.isfinite(s["mean_loss"]) for s in result.train_stats), name
        layers = stacked_lora_layers(trainer.model)
        stacked = len(next(iter(layers.values())).task_ranks) if layers else None
        expected = {"nlora": 2, "olora": 2, "inclora": 2, "seqlora": 0, "mtl": 0, "seqft": None}
        assert stacked == expected[name], name


def test_bf16_gqa_run_in_delta_w_mode(llama_toy, tmp_path):
    result, trainer = llama_toy.run(
        str(tmp_path / "bf16"),
        "nlora",
        epochs=1,
        gqa=True,
        mixed_precision="bf16",
        method_opts={"nlora_target": "delta_w"},
    )
    assert trainer.accelerator.mixed_precision == "bf16"
    assert all(math.isfinite(s["mean_loss"]) for s in result.train_stats)
    layer = stacked_lora_layers(trainer.model)["model.layers.0.self_attn.v_proj"]
    assert layer.out_features == 16 and layer.lora_B_old.abs().sum() > 0

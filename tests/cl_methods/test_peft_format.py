"""Task adapters in PEFT's format: ``peft.PeftModel.from_pretrained(base, folder)`` opens every
exported folder and computes what the library's model computes (tiny T5 and tiny LLaMA), and
the folders load back into a stacked model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from cl_methods import ContinualTrainer, TaskContext, TrainerConfig, TrainTask, build_method
from cl_methods.adapters import (
    load_peft_adapter,
    merge_stacked_lora,
    read_peft_adapter,
    stacked_lora_layers,
)


def tiny_t5() -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=64, d_model=16, d_ff=32, d_kv=4, num_heads=4, num_layers=2,
        num_decoder_layers=1, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return T5ForConditionalGeneration(cfg).eval()


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=32,
    )  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            return model(input_ids=ids, decoder_input_ids=ids[:, :3]).logits
        return model(input_ids=ids).logits


def train_by_hand(base, method_name: str, out: Path, tasks: int = 2):
    """Stack ``tasks`` random (non-zero) task adapters with the method's own hooks and export
    each task as the trainer does; returns the adapted model."""
    method = build_method(method_name)
    model = method.prepare(copy.deepcopy(base))
    for t in range(tasks):
        ctx = TaskContext(index=t, name=f"t{t}")
        method.on_task_start(ctx, model)
        with torch.no_grad():
            for layer in stacked_lora_layers(model).values():
                layer.lora_A.normal_(0, 0.3)
                layer.lora_B.normal_(0, 0.3)
        method.on_task_end(ctx, model)
        method.export_task(ctx, model, out / f"{t:02d}_t{t}")
    return model


@pytest.mark.parametrize("make", [tiny_t5, tiny_llama], ids=["t5", "llama"])
def test_exported_adapters_open_in_peft_with_the_same_outputs(make, tmp_path):
    base = make()
    model = train_by_hand(base, "inclora", tmp_path)
    ids = torch.randint(2, 64, (3, 7))
    for t in range(2):
        folder = tmp_path / f"{t:02d}_t{t}"
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA" and config["r"] == 8
        assert config["lora_alpha"] == pytest.approx(32.0)  # scale 4 = alpha / r
        peft_model = PeftModel.from_pretrained(copy.deepcopy(base), str(folder))
        # the library's model for task t alone: base + s B_t A_t, merged by hand
        expected = copy.deepcopy(base)
        for name, layer in stacked_lora_layers(model).items():
            a, b = layer.task_slice(t)
            weight = expected.get_submodule(name).weight
            with torch.no_grad():
                weight += layer.scale * (b @ a)
        got, want = logits(peft_model, ids), logits(expected, ids)
        assert (got - want).abs().max() < 1e-5
    # the stacked folder: every task's adapter as one LoRA = the library's model after task 1
    stacked = PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "01_t1" / "stacked"))
    assert (
        json.loads((tmp_path / "01_t1" / "stacked" / "adapter_config.json").read_text())["r"] == 16
    )
    assert (logits(stacked, ids) - logits(model, ids)).abs().max() < 1e-5
    assert (logits(model, ids) - logits(base, ids)).abs().max() > 1e-3  # the adapters matter

    # and back: the task folders, stacked in order, rebuild the library's model
    fresh = build_method("inclora").prepare(copy.deepcopy(base))
    for t in range(2):
        load_peft_adapter(fresh, tmp_path / f"{t:02d}_t{t}", into="stack")
    assert (logits(fresh, ids) - logits(model, ids)).abs().max() < 1e-5
    merged = merge_stacked_lora(copy.deepcopy(fresh))
    assert (logits(merged, ids) - logits(model, ids)).abs().max() < 1e-5


def test_loading_a_folder_with_another_scale_keeps_delta_w(tmp_path):
    base = tiny_llama()
    train_by_hand(base, "inclora", tmp_path, tasks=1)
    folder = tmp_path / "00_t0"
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["lora_alpha"] = 8.0  # scale 1: the same folder now means delta W / 4 ...
    config_path.write_text(json.dumps(config))
    fresh = build_method("inclora").prepare(copy.deepcopy(base))
    load_peft_adapter(fresh, folder, into="stack")
    _, pairs, scale = read_peft_adapter(folder)
    assert scale == 1.0
    for name, layer in stacked_lora_layers(fresh).items():
        a, b = pairs[name]
        want = scale * b @ a  # ... and the stacked layer holds exactly that
        assert torch.allclose(layer.delta_weight(include_new=False), want, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="not a PEFT adapter folder"):
        load_peft_adapter(fresh, tmp_path / "nowhere")
    other = build_method("inclora", {"targets": ("q_proj",)}).prepare(copy.deepcopy(base))
    with pytest.raises(ValueError, match="do not match"):
        load_peft_adapter(other, folder)


def test_the_trainer_writes_peft_folders(tmp_path):
    """Under ContinualTrainer every task folder is a PEFT adapter (O-LoRA, tiny LLaMA)."""

    def collate(rows):
        ids = torch.tensor(rows)
        return {"input_ids": ids, "labels": ids}

    rows = [[1, 5 + i % 4, 9, 2] for i in range(8)]
    tasks = [TrainTask(f"t{k}", rows, collate) for k in range(2)]
    cfg = TrainerConfig(
        output_dir=str(tmp_path), lr=1e-2, batch_size=4, progress=False, log_with=()
    )
    trainer = ContinualTrainer(tiny_llama(), build_method("olora"), cfg)
    trainer.fit(tasks)
    for folder in ("00_t0", "01_t1", "01_t1/stacked"):
        path = tmp_path / "tasks" / folder
        assert {"adapter_config.json", "adapter_model.safetensors"} <= {
            p.name for p in path.iterdir()
        }
    base = tiny_llama()
    peft_model = PeftModel.from_pretrained(base, str(tmp_path / "tasks" / "01_t1" / "stacked"))
    ids = torch.tensor(rows[:3])
    assert (logits(peft_model, ids) - logits(trainer.model, ids)).abs().max() < 1e-5

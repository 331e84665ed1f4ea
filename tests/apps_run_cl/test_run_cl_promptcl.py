"""run_cl end to end with the prompt/adapter methods (ProgPrompt, AdapterCL, LFPT5): the shipped
topic3 and Concept-1K configs at tiny sizes (3 tasks), the colour tasks, and a local GPT-2
folder given with --backbone.model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

CONFIGS = Path(__file__).resolve().parents[2] / "apps" / "configs" / "classic"
METHODS = ("progprompt", "adaptercl", "lfpt5")
TINY = [
    "--trainer.epochs", "1", "--trainer.progress", "false",
    "--backbone.max_new_tokens", "4", "--backbone.max_length", "48",
]  # fmt: skip
TINY_TOPIC3 = [*TINY, "--data.train_per_class", "2", "--data.test_per_class", "1"]
TINY_C1K = [
    *TINY,
    "--data.max_train_per_task", "6",
    "--data.max_test_per_task", "3",
    "--data.max_train_eval_per_task", "3",
]  # fmt: skip


def results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def colour_yaml(colour_dir, method: str, scenario: str, extra: str = "") -> str:
    return (
        f"method: {method}\nscenario: {scenario}\n"
        "backbone: {model: tiny-llama-wide, kind: causal_lm, head: none, prompt: default, "
        "max_length: 64, max_new_tokens: 6}\n"
        f"data: {{name: dir, dir: {colour_dir}}}\n"
        "trainer: {epochs: 1, lr: 1.0e-2, batch_size: 4, weight_decay: 0.0, progress: false}\n"
        + extra
    )


@pytest.mark.parametrize("method", METHODS)
def test_topic3_config_runs_three_tasks(run_cl, shared_data, tmp_path, method):
    out = tmp_path / method
    config = CONFIGS / f"topic3_llama_{method}.yaml"
    assert run_cl.main(["--config", str(config), *TINY_TOPIC3, "--output_dir", str(out)]) == 0
    data = results(out)
    assert data["tasks"] == ["task0", "task1", "task2"] and data["config"]["method"] == method
    assert all(len(row) == 3 for row in data["matrix"])
    assert data["metrics"]["ap"] is not None


@pytest.mark.parametrize("method", METHODS)
def test_concept1k_config_runs_three_tasks_with_iil_metrics(run_cl, shared_data, tmp_path, method):
    out = tmp_path / method
    config = CONFIGS / f"concept1k_{method}.yaml"
    assert run_cl.main(["--config", str(config), *TINY_C1K, "--output_dir", str(out)]) == 0
    data = results(out)
    assert data["tasks"] == ["task0", "task1", "task2"]
    assert all(data["metrics"][k] is not None for k in ("ma", "ga", "mf", "gf"))


def test_progprompt_refuses_cil_before_training(run_cl, colour_dir, write_yaml, tmp_path):
    path = write_yaml(colour_yaml(colour_dir, "progprompt", "CIL"))
    cfg = run_cl.load_config(["--config", str(path), "--output_dir", str(tmp_path / "c")])
    with pytest.raises(ValueError, match="task-incremental only"):
        run_cl.build_run(cfg)


def test_adaptercl_cil_and_til_on_the_colour_tasks(run_cl, colour_dir, write_yaml, tmp_path):
    extra = "method_config: {reduction_factor: 4}\n"
    path = write_yaml(colour_yaml(colour_dir, "adaptercl", "CIL", extra))
    out = tmp_path / "acl"
    assert run_cl.main(["--config", str(path), "--output_dir", str(out)]) == 0
    assert len(results(out)["matrix"]) == 3
    used = json.loads((out / "trainer_config.json").read_text())["method_config"]
    assert used["il_mode"] == "CIL" and used["num_tasks"] == 3  # filled from the run
    cfg = run_cl.load_config(["--config", str(path), "--scenario", "TIL",
                              "--output_dir", str(tmp_path / "til")])  # fmt: skip
    trainer, tasks = run_cl.build_run(cfg)
    trainer.fit(tasks)
    assert trainer.method.config.il_mode == "TIL"
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable == []  # every adapter frozen once its task ended
    files = sorted(p.name for p in (tmp_path / "til" / "tasks").glob("*/*"))
    assert files.count("bottleneck_adapter.safetensors") == 3


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> Path:
    """A tiny random GPT-2 saved with save_pretrained, with a byte-level tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from cl_data import byte_level_tokenizer

    tok = byte_level_tokenizer()
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=2, n_head=2, initializer_range=0.3,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("gpt2") / "tiny-gpt2"
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("method", METHODS)
def test_configs_run_on_a_local_gpt2_folder(run_cl, colour_dir, gpt2_folder, tmp_path, method):
    config = CONFIGS / f"topic3_llama_{method}.yaml"
    out = tmp_path / method
    argv = [
        "--config", str(config), "--backbone.model", str(gpt2_folder),
        "--data.name", "dir", "--data.dir", str(colour_dir), "--data.num_tasks", "3",
        *TINY, "--output_dir", str(out),
    ]  # fmt: skip
    assert run_cl.main(argv) == 0
    data = results(out)
    assert data["config"]["backbone"]["model"] == str(gpt2_folder)
    assert len(data["matrix"]) == 3

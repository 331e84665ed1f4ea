"""apps/reproduce_nlora.py end to end on its smoke preset (tiny LLaMA and GQA, shortened)."""

import json

import pytest

QUICK = [
    "--preset",
    "smoke",
    "--max-train-samples",
    "4",
    "--max-test-samples",
    "2",
    "--epochs",
    "1",
    "--max-new-tokens",
    "4",
    "--log-with",
    "none",
    "--no-progress",
    "--no-plot",
]


def test_llama_smoke_writes_results_and_the_task_update_analysis(nlora_app, tmp_path):
    out = tmp_path / "run"
    proc = nlora_app(*QUICK, "--smoke-arch", "llama", "--plot", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "AP = " in proc.stdout and "BWT = " in proc.stdout
    assert "tiny-llama" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert len(results["tasks"]) == 4 and results["metrics"]["ap"] is not None
    analysis = results["extra"]["task_update_analysis"]
    assert len(analysis["pairs"]) == 6
    assert {n.rsplit(".", 1)[-1] for n in analysis["layers"]} == {"q_proj", "v_proj"}
    assert 0.0 <= analysis["summary"]["collision_rate"] <= 1.0
    assert (out / "task_updates.png").is_file() and (out / "results_heatmap.png").is_file()
    assert len(list((out / "tasks").glob("*/adapter.safetensors"))) == 4
    config = json.loads((out / "run_config.json").read_text())
    assert config["method"]["name"] == "nlora" and config["method"]["nlora_target"] == "ab"
    assert [p["lambda_1"] for p in config["task_params"]] == [0.46] * 4  # LLaMA order-1 table
    assert [p["lr"] for p in config["task_params"]] == [2e-2] * 4  # the smoke preset's


def _in_process(*argv):
    """Run the app's recipe in this process (no interpreter start-up): its return code."""
    from common.lora_recipe import run
    from reproduce_nlora import APP

    return run(APP, list(argv))


def test_gqa_fails_at_once_in_ab_mode(tmp_path):
    with pytest.raises(SystemExit) as err:
        _in_process(*QUICK, "--smoke-arch", "llama-gqa", "--output-dir", str(tmp_path / "g"))
    message = str(err.value)
    assert "v_proj (64 -> 32)" in message and "--nlora-target delta_w" in message
    assert not (tmp_path / "g" / "checkpoints").exists()  # before any training


def test_gqa_delta_w_in_bf16(tmp_path):
    out = tmp_path / "g2"
    args = [*QUICK, "--smoke-arch", "llama-gqa", "--precision", "bf16", "--model-dtype", "bf16"]
    assert _in_process(*args, "--nlora-target", "delta_w", "--lambda-1", "0.2",
                       "--output-dir", str(out)) == 0  # fmt: skip
    config = json.loads((out / "run_config.json").read_text())
    assert config["trainer"]["mixed_precision"] == "bf16"
    assert config["method"]["nlora_target"] == "delta_w"
    assert [p["lambda_1"] for p in config["task_params"]] == [0.2] * 4
    results = json.loads((out / "results.json").read_text())
    assert len(results["extra"]["task_update_analysis"]["pairs"]) == 6


def test_local_llama_gets_the_llama_table(tmp_path, shared_data):
    """A causal LM given with --model (a local folder) runs the paper path with the LLaMA table
    of order 1: per-task lr, lambda_1 0.46, global batch 48 = 4 x 12."""
    from common.models import tiny_llama

    model, tokenizer, _ = tiny_llama(hidden=32)
    folder = tmp_path / "tiny-llama"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = tmp_path / "paper"
    argv = ["--model", str(folder), "--data-dir", str(shared_data / "CL_Benchmark")]
    argv += ["--max-train-samples", "1", "--max-test-samples", "1", "--epochs", "1"]
    argv += ["--max-source-length", "48", "--max-new-tokens", "2", "--log-with", "none"]
    argv += ["--no-progress", "--no-plot", "--no-analysis", "--output-dir", str(out)]
    assert _in_process(*argv) == 0
    config = json.loads((out / "run_config.json").read_text())
    assert config["tasks"] == ["dbpedia", "amazon", "yahoo", "agnews"]
    assert [p["lr"] for p in config["task_params"]] == [1e-3, 1e-4, 1e-4, 1e-4]
    assert [p["lambda_1"] for p in config["task_params"]] == [0.46] * 4
    assert (config["trainer"]["batch_size"], config["trainer"]["grad_accum"]) == (4, 12)
    assert "task_update_analysis" not in json.loads((out / "results.json").read_text())["extra"]

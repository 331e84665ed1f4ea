"""apps/reproduce_nlora.py end to end on its smoke preset (tiny LLaMA and GQA, shortened).

Most runs call the app's recipe in this process (interpreter start-up costs more than a shortened
run); the kill-and-resume test runs the script itself in a subprocess."""

import json

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


def _in_process(*argv):
    """Run the app's recipe in this process (no interpreter start-up): its return code."""
    from reproduce_nlora import main

    return main(list(argv))


def test_llama_smoke_writes_results_and_the_task_update_analysis(tmp_path, capsys):
    out = tmp_path / "run"
    assert _in_process(*QUICK, "--smoke-arch", "llama", "--plot", "--output-dir", str(out)) == 0
    stdout = capsys.readouterr().out
    assert "AP = " in stdout and "BWT = " in stdout and "tiny-llama" in stdout
    assert "task updates (mean over layers and task pairs): collision_rate" in stdout
    assert "smoke model is a randomly initialised" in stdout  # the shared recipe says so
    results = json.loads((out / "results.json").read_text())
    assert len(results["tasks"]) == 4 and results["metrics"]["ap"] is not None
    analysis = results["extra"]["task_update_analysis"]
    assert len(analysis["pairs"]) == 6
    assert {n.rsplit(".", 1)[-1] for n in analysis["layers"]} == {"q_proj", "v_proj"}
    assert 0.0 <= analysis["summary"]["collision_rate"] <= 1.0
    nuclear = analysis["nuclear_norm_per_layer"]
    assert list(nuclear) == analysis["layers"]
    assert all(len(v) == 4 and all(x > 0 for x in v) for v in nuclear.values())
    assert list(analysis["nuclear_norm_distribution"]) == results["tasks"]
    assert (out / "task_updates.png").is_file() and (out / "results_heatmap.png").is_file()
    assert len(list((out / "tasks").glob("*/adapter_model.safetensors"))) == 4
    config = results["config"]
    assert config["method"]["name"] == "nlora" and config["method"]["nlora_target"] == "ab"
    assert config["run"]["truncation"] == "released"  # the releases' collator, the paper default
    assert [p["lambda_1"] for p in config["task_params"]] == [0.46] * 4  # LLaMA order-1 table
    assert [p["lr"] for p in config["task_params"]] == [2e-2] * 4  # the smoke preset's


def test_gqa_fails_at_once_in_ab_mode(tmp_path, capsys):
    assert (
        _in_process(*QUICK, "--smoke-arch", "llama-gqa", "--output-dir", str(tmp_path / "g")) == 2
    )
    message = capsys.readouterr().err
    assert "v_proj (64 -> 32)" in message and "--nlora-target delta_w" in message
    assert not (tmp_path / "g").exists()  # before anything is written


def test_gqa_delta_w_in_bf16(tmp_path):
    out = tmp_path / "g2"
    args = [*QUICK, "--smoke-arch", "llama-gqa", "--precision", "bf16", "--model-dtype", "bf16"]
    assert _in_process(*args, "--nlora-target", "delta_w", "--lambda-1", "0.2",
                       "--output-dir", str(out)) == 0  # fmt: skip
    config = json.loads((out / "results.json").read_text())["config"]
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
    argv += ["--max-train-samples", "4", "--max-test-samples", "1", "--epochs", "1"]
    # byte-level tokens: the benchmark's prompts need ~1000 for their answers to survive
    argv += ["--max-source-length", "1024", "--max-new-tokens", "2", "--log-with", "none"]
    argv += ["--no-progress", "--no-plot", "--no-analysis", "--output-dir", str(out)]
    assert _in_process(*argv) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["tasks"] == ["dbpedia", "amazon", "yahoo", "agnews"]
    assert [p["lr"] for p in config["task_params"]] == [1e-3, 1e-4, 1e-4, 1e-4]
    assert [p["lambda_1"] for p in config["task_params"]] == [0.46] * 4
    assert (config["trainer"]["batch_size"], config["trainer"]["grad_accum"]) == (4, 12)
    assert "task_update_analysis" not in json.loads((out / "results.json").read_text())["extra"]


def test_app_resume_after_kill_matches_the_uninterrupted_run(nlora_app, tmp_path):
    """Tiny LLaMA, 4 tasks x 4 steps, checkpoints every 3 steps; a trainer callback
    (tests/fault_injection.py) SIGKILLs the app after the checkpoint at global step 6 (in the
    second task); --resume then ends with the same accuracy matrix and bit-identical task
    adapters as an uninterrupted run."""
    from safetensors.torch import load_file

    args = [*QUICK, "--smoke-arch", "llama", "--epochs", "2", "--global-batch", "2"]
    args += ["--per-device-batch", "2", "--checkpoint-every", "3"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert _in_process(*args, "--output-dir", str(full)) == 0
    killed = nlora_app(*args, "--output-dir", str(cut), kill_after_step=6)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (cut / "checkpoints" / "latest").read_text().strip().endswith("t01-in_task")
    assert _in_process(*args, "--output-dir", str(cut), "--resume") == 0
    matrix = [json.loads((d / "results.json").read_text())["matrix"] for d in (full, cut)]
    assert matrix[0] == matrix[1]
    for folder in sorted(p.name for p in (full / "tasks").iterdir()):
        a = load_file(str(full / "tasks" / folder / "adapter_model.safetensors"))
        b = load_file(str(cut / "tasks" / folder / "adapter_model.safetensors"))
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a), folder

import json
import time

import pytest

QUICK = [
    "--preset",
    "smoke",
    "--max-train-samples",
    "8",
    "--max-test-samples",
    "4",
    "--epochs",
    "1",
    "--log-with",
    "none",
    "--no-progress",
    "--no-plot",
]


def test_smoke_pipeline_writes_the_report(app, tmp_path):
    out = tmp_path / "run"
    proc = app("reproduce_olora.py", *QUICK, "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "AP = " in proc.stdout and "BWT = " in proc.stdout
    # one line says the smoke model is random and where the efficacy study is
    note = [line for line in proc.stdout.splitlines() if "smoke model is a randomly" in line]
    assert len(note) == 1 and "results/efficacy/README.md" in note[0]
    results = json.loads((out / "results.json").read_text())
    assert len(results["tasks"]) == 4
    rows = results["matrix"]
    assert all(v is not None for i, row in enumerate(rows) for v in row[: i + 1])
    assert all(v is None for i, row in enumerate(rows) for v in row[i + 1 :])
    assert (out / "results.md").is_file()
    assert len(list((out / "predictions").glob("after03_*.jsonl"))) == 4
    assert len(list((out / "tasks").glob("*/adapter_model.safetensors"))) == 4
    assert "ap" in results["metrics"] and "bwt" in results["metrics"]
    assert (out / "run_config.yaml").is_file()
    config = results["config"]
    assert config["method"]["name"] == "olora" and config["run"]["truncation"] == "released"
    assert [p["lambda_1"] for p in config["task_params"]] == [0.5] * 4


def test_default_model_fails_at_once_offline(app, tmp_path):
    started = time.time()
    proc = app("reproduce_olora.py", "--output-dir", str(tmp_path), env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode != 0
    assert time.time() - started < 120
    message = proc.stderr + proc.stdout
    assert "'t5-large'" in message and "--model" in message and "--preset smoke" in message


def test_options_that_do_not_apply_are_refused(app, tmp_path):
    proc = app(
        "reproduce_olora.py",
        "--preset",
        "smoke",
        "--method",
        "inclora",
        "--lambda-1",
        "0.3",
        "--output-dir",
        str(tmp_path),
    )
    assert proc.returncode == 2
    assert "--lambda-1: does not apply to method 'inclora'" in proc.stderr
    proc = app(
        "reproduce_olora.py", "--preset", "smoke", "--orth-norm", "l3", "--output-dir",
        str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 2 and "--orth-norm: invalid choice: 'l3'" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_order_6_uses_the_per_task_lambda_table(app, tmp_path, shared_data):
    out = tmp_path / "o6"
    proc = app(
        "reproduce_olora.py",
        "--preset",
        "smoke",
        "--order",
        "6",
        "--data-dir",
        str(shared_data / "CL_Benchmark"),
        "--max-train-samples",
        "2",
        "--max-test-samples",
        "1",
        "--epochs",
        "1",
        "--max-new-tokens",
        "2",
        "--log-with",
        "none",
        "--no-progress",
        "--no-plot",
        "--output-dir",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "results.json").read_text())["config"]
    params = dict(zip(config["tasks"], config["task_params"]))
    assert (params["yelp"]["lambda_1"], params["yelp"]["lambda_2"]) == (0.0, 0.0)
    assert (params["WiC"]["lambda_1"], params["WiC"]["lambda_2"]) == (5.0, 0.3)
    assert params["MNLI"]["epochs"] == 1  # the smoke preset's --epochs 1 wins over the table


@pytest.mark.slow
def test_full_smoke_preset(app, tmp_path):
    proc = app("reproduce_olora.py", "--preset", "smoke", "--output-dir", str(tmp_path / "s"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert results["metrics"]["ap"] is not None

"""End-to-end smoke runs of apps/reproduce_taalm.py (tiny random Llama, offline, CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cl_eval import read_results
from cl_eval.ckl import ckl_summary

FAULTS = Path(__file__).resolve().parents[1] / "fault_injection.py"
QUICK = ["--preset", "smoke", "--progress", "false", "--log-with", "none"]
LAMA_QUICK = [*QUICK, "--benchmark", "lama-ckl", "--limit-train", "8", "--limit-probes", "8"]
LAMA_QUICK += ["--epochs", "2"]


def _run(reproduce, out, *argv):
    assert reproduce.main([*argv, "--output-dir", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


def _epochs(out):
    return [json.loads(line) for line in (out / "epochs.jsonl").read_text().splitlines()]


def test_train_attention_then_taalm_on_lama_ckl(app, reproduce, taalm_data, tmp_path, capsys):
    ta = tmp_path / "ta"
    fast = ["--pool-size", "12", "--val-size", "4", "--epochs", "1", "--eval-every", "1"]
    assert (
        app.main(["--preset", "smoke", "--output-dir", str(ta), "--progress", "false", *fast]) == 0
    )
    phi = ta / "selected"

    out = tmp_path / "taalm"
    results = _run(
        reproduce, out, *LAMA_QUICK, "--method", "taalm+mixreview", "--phi-checkpoint", str(phi)
    )
    printed = capsys.readouterr().out
    assert "| taalm+mixreview |" in printed and "results.json" in printed
    rows = _epochs(out)
    assert [r["epoch"] for r in rows] == [0, 1, 2]  # before training and after every epoch
    summary = ckl_summary([r["to_learn_acc"] for r in rows], [r["nf_acc"] for r in rows])
    assert results["extra"]["summary"] == summary.__dict__
    assert read_results(out / "results.json").extra["method"] == "taalm+mixreview"
    config = results["config"]
    assert config["method"]["combine_with"] == ["mixreview"]
    assert config["method"]["phi_checkpoint"] == str(phi)
    assert config["tasks"][0]["train_documents"] == 8
    assert config["tasks"][0]["probes"]["to_learn"]["n"] == 8
    # 8 TO-LEARN documents + 8 replay documents per epoch: Mix-review's 4 + 4 per step
    assert config["trainer"]["batch_size"] == 2 and config["trainer"]["grad_accum"] == 2
    md = (out / "results.md").read_text()
    assert "| Method | Top | Ep | NF | Total |" in md and "## Per epoch" in md
    train_log = (out / "trainer_results.json").read_text()
    assert json.loads(train_log)["train_stats"][0]["steps"] == 4  # 2 per epoch

    # TAALM's weights change what theta learns: plain finetuning follows another curve
    ft = tmp_path / "finetune"
    _run(reproduce, ft, *LAMA_QUICK, "--method", "finetune", "--tokenizer", str(ta / "tokenizer"))
    assert next(r["to_learn_nll"] for r in _epochs(ft)) == rows[0]["to_learn_nll"]  # same theta0
    assert [r["to_learn_nll"] for r in _epochs(ft)][1:] != [r["to_learn_nll"] for r in rows[1:]]


def test_temporalwiki_baseline_three_periods(reproduce, taalm_data, tmp_path):
    out = tmp_path / "twiki"
    argv = [*QUICK, "--benchmark", "temporalwiki", "--method", "recadam"]
    argv += ["--limit-train", "8", "--limit-probes", "6", "--eval-before-training", "true"]
    results = _run(reproduce, out, *argv)
    periods = results["extra"]["periods"]
    assert [p["period"] for p in periods] == ["0901-1001", "1001-1101", "1101-1201"]
    assert all(p["n_changed"] == 6 and p["n_unchanged"] == 6 for p in periods)
    rows = [json.loads(x) for x in (out / "periods.jsonl").read_text().splitlines()]
    # theta0 on all three periods, then each period re-evaluates the periods seen so far
    assert [(r["after"], r["period"]) for r in rows] == [
        (-1, "0901-1001"),
        (-1, "1001-1101"),
        (-1, "1101-1201"),
        (0, "0901-1001"),
        (1, "0901-1001"),
        (1, "1001-1101"),
        (2, "0901-1001"),
        (2, "1001-1101"),
        (2, "1101-1201"),
    ]
    for p in periods:
        own = [r for r in rows if r["period"] == p["period"] and r["after_period"] == p["period"]]
        assert own[0]["changed_nll"] == p["changed_nll"]
    stats = json.loads((out / "trainer_results.json").read_text())["train_stats"]
    assert [s["task"] for s in stats] == ["0901-1001", "1001-1101", "1101-1201"]
    assert all(s["steps"] == 1 and s["epochs"] == 1 for s in stats)  # 8 documents, one step
    # one evaluation per (weights, period): the trainer's repeat after each task is not recomputed
    log = [json.loads(x) for x in (out / "eval_log.jsonl").read_text().splitlines()]
    assert len(log) == 3 + 1 + 2 + 3
    md = (out / "results.md").read_text()
    assert "| Method | 0901-1001 | 1001-1101 | 1101-1201 |" in md and "theta0" in md


def test_interrupted_run_resumes_to_the_same_summary(reproduce, taalm_data, tmp_path, apps_dir):
    argv = [*LAMA_QUICK, "--method", "mixreview", "--checkpoint-every", "1", "--threads", "1"]
    full = tmp_path / "full"
    expected = _run(reproduce, full, *argv)

    cut = tmp_path / "cut"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    kill = [str(FAULTS), "--kill-after-step", "3"]  # SIGKILL mid-way through epoch 2
    cmd = [sys.executable, *kill, str(apps_dir / "reproduce_taalm.py"), *argv]
    cmd += ["--output-dir", str(cut)]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (cut / "checkpoints" / "latest").read_text().startswith("ckpt-0000003-t00-in_task")
    assert not (cut / "results.json").exists()

    resumed = _run(reproduce, cut, *argv, "--resume")
    assert resumed["extra"]["summary"] == expected["extra"]["summary"]
    assert _epochs(cut) == _epochs(full)


def test_clear_errors(reproduce, taalm_data, tmp_path, capsys, monkeypatch):
    def fails(*argv):
        assert reproduce.main([*argv, "--output-dir", str(tmp_path / "err")]) == 2
        return capsys.readouterr().err

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    err = fails("--benchmark", "lama-ckl", "--method", "finetune", "--log-with", "none")
    assert "meta-llama/Llama-2-7b-hf" in err and "--preset smoke" in err
    err = fails(
        "--benchmark",
        "temporalwiki",
        "--method",
        "finetune",
        "--preset",
        "smoke",
        "--twiki-diffset-dir",
        str(tmp_path),
    )
    assert "diffset_0910_filtered.jsonl" in err
    err = fails("--benchmark", "temporalwiki", "--method", "finetune", "--model", "some/model")
    assert "--twiki-diffset-dir is required" in err
    err = fails("--benchmark", "temporalwiki", "--method", "finetune", "--model", str(tmp_path))
    assert f"--model: {tmp_path}: the model folder has no config.json" in err
    err = fails("--benchmark", "lama-ckl", "--method", "taalm", "--preset", "smoke")
    assert "--phi-checkpoint: phi_checkpoint is required" in err
    err = fails("--benchmark", "lama-ckl", "--method", "taalm", "--phi-checkpoint", str(tmp_path))
    assert "not a Train-Attention checkpoint" in err
    err = fails("--benchmark", "temporalwiki", "--method", "oracle", "--preset", "smoke")
    assert "LAMA-ckl only" in err
    err = fails(
        "--benchmark", "lama-ckl", "--method", "finetune", "--preset", "smoke", "--batch-size", "6"
    )
    assert "not a multiple" in err
    # strict booleans (D3) and method names
    from common import config

    base = ["--benchmark", "lama-ckl", "--method", "finetune", "--output-dir", "x"]
    for bad in (["--known-masking", "flase"], ["--method", "taalm+oracle"]):
        with pytest.raises(SystemExit):
            config.load(reproduce.SPEC, [*base, *bad])
    args = config.load(reproduce.SPEC, [*base, "--known-masking", "false"])
    assert args.method_config.known_masking is False


def test_paper_defaults_and_resume_guard(reproduce, taalm_data, tmp_path, capsys):
    from common import config

    args = config.load(
        reproduce.SPEC,
        ["--benchmark", "lama-ckl", "--method", "taalm+mixreview", "--output-dir", "x"],
    )
    assert (args.model, args.epochs, args.lr, args.weight_decay) == (
        "meta-llama/Llama-2-7b-hf",
        30,
        1e-4,
        0.01,
    )
    assert (args.batch_size, args.batch_size_with_replay) == (64, 32)
    assert (args.max_length, args.lora_r, args.lora_alpha) == (512, 64, 16)
    assert args.lora_dropout == 0.1 and args.method_config.known_masking is False
    assert args.theta_adapter == "Anonymous-TAALM/Llama-2-7b"
    assert args.method_config.combine_with == ("mixreview",)
    ratio = args.method_config.mixreview.replay_ratio
    assert reproduce.trainer_config(args, ratio, tmp_path).grad_accum == 8  # 8 x (4 + 4 replay)
    args = config.load(
        reproduce.SPEC,
        [
            "--benchmark",
            "temporalwiki",
            "--method",
            "finetune",
            "--output-dir",
            "x",
            "--theta-adapter",
            "none",
        ],
    )
    assert (args.model, args.epochs, args.batch_size) == (
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        1,
        64,
    )
    assert args.theta_adapter is None

    out = tmp_path / "run"
    argv = [*LAMA_QUICK, "--method", "finetune", "--epochs", "1", "--output-dir", str(out)]
    assert reproduce.main([*argv, "--resume"]) == 2  # nothing to resume: an error
    assert "holds no checkpoint" in capsys.readouterr().err
    assert reproduce.main(argv) == 0
    assert reproduce.main(argv) == 2  # a second run into the same folder needs --resume
    assert "--resume" in capsys.readouterr().err
    assert reproduce.main([*argv, "--resume", "--lr", "0.5"]) == 2
    assert "other settings (lr" in capsys.readouterr().err
    assert reproduce.main([*argv, "--resume"]) == 0  # finished: nothing left to train


@pytest.fixture(scope="module")
def phi_checkpoint(app, tmp_path_factory):
    out = tmp_path_factory.mktemp("ta")
    fast = ["--pool-size", "12", "--val-size", "4", "--epochs", "1", "--eval-every", "2"]
    assert (
        app.main(["--preset", "smoke", "--output-dir", str(out), "--progress", "false", *fast]) == 0
    )
    return str(out / "selected")


LAMA_METHODS = ["finetune", "oracle", "kadapter", "recadam", "mixreview", "rho1", "taalm"]
LAMA_METHODS += ["taalm+kadapter+mixreview+recadam", "taalm+rho1"]
TWIKI_METHODS = ["finetune", "kadapter", "mixreview", "rho1", "taalm+recadam", "taalm+kadapter"]
EVERY_METHOD = [("lama-ckl", m) for m in LAMA_METHODS]
EVERY_METHOD += [("temporalwiki", m) for m in TWIKI_METHODS]


@pytest.mark.slow
@pytest.mark.parametrize(("benchmark", "method"), EVERY_METHOD)
def test_every_method_runs_the_smoke_preset(
    reproduce, taalm_data, tmp_path, phi_checkpoint, benchmark, method
):
    argv = [*QUICK, "--benchmark", benchmark, "--method", method]
    if method.startswith("taalm"):
        argv += ["--phi-checkpoint", phi_checkpoint]
    results = _run(reproduce, tmp_path / "run", *argv)
    extra = results["extra"]
    if benchmark == "lama-ckl":
        assert len(extra["epochs"]) == 4  # the smoke preset: 3 epochs, evaluated from epoch 0
        assert 0 <= extra["summary"]["top_acc"] <= 1
    else:
        assert len(extra["periods"]) == 3
    for row in extra.get("epochs", extra.get("periods")):
        assert all(v == v for v in row.values() if isinstance(v, float))  # no NaN


@pytest.mark.slow
@pytest.mark.distributed
def test_two_gloo_processes_match_one_process(reproduce, taalm_data, tmp_path, apps_dir):
    """Mix-review's replay blocks and the evaluator's gathered probes are split over processes:
    two processes reproduce the one-process run (same global batch) exactly on CPU."""
    argv = [*LAMA_QUICK, "--method", "mixreview", "--threads", "1"]
    one = tmp_path / "one"
    _run(reproduce, one, *argv)
    two = tmp_path / "two"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    launch += ["--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]
    launch += ["--dynamo_backend", "no", "--main_process_port", "29541"]
    cmd = [*launch, str(apps_dir / "reproduce_taalm.py"), *argv, "--output-dir", str(two)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("| mixreview |") == 1  # only the main process reports
    config = json.loads((two / "results.json").read_text())["config"]["trainer"]
    assert config["grad_accum"] == 1 and config["batch_size"] == 2  # x 2 processes = 4 per step
    assert _epochs(two) == _epochs(one)

"""Run the toy stream in subprocesses: kill it mid-task (SIGKILL from a trainer callback,
tests/fault_injection.py) and resume; and 1 vs 2 processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

FAULTS = Path(__file__).resolve().parents[1] / "fault_injection.py"


def _run(cmd, env_extra=None, expect_ok=True):
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.update(env_extra or {})
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if expect_ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _matrix(proc):
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(lines[-1][len("RESULT ") :])


def _adapters(out):
    return [
        load_file(str(out / "tasks" / d / "adapter_model.safetensors"))
        for d in ("00_colors", "01_animals")
    ]


def test_resume_after_kill_matches_uninterrupted_run(toy_script, tmp_path):
    common = ["--checkpoint-every", "5", "--dropout", "0.1", "--epochs", "2"]
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full = _run([sys.executable, str(toy_script), str(full_dir), *common])

    kill = [str(FAULTS), "--kill-after-step", "20"]
    killed = _run([sys.executable, *kill, str(toy_script), str(cut_dir), *common], expect_ok=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    latest = (cut_dir / "checkpoints" / "latest").read_text().strip()
    assert latest.endswith("t01-in_task"), latest  # killed in the middle of the second task
    assert not (cut_dir / "tasks" / "01_animals").exists()

    resumed = _run([sys.executable, str(toy_script), str(cut_dir), *common, "--resume"])
    assert _matrix(resumed) == _matrix(full)
    for a, b in zip(_adapters(full_dir), _adapters(cut_dir)):
        assert a.keys() == b.keys()
        for key in a:
            assert (a[key] == b[key]).all(), key  # bit-identical on CPU


@pytest.mark.distributed
def test_two_gloo_processes_match_one_process(toy_script, tmp_path):
    common = ["--dropout", "0", "--epochs", "1", "--batch-size", "2"]
    one = _run(
        [sys.executable, str(toy_script), str(tmp_path / "one"), *common, "--grad-accum", "2"]
    )
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29517",
    ]
    two = _run([*launch, str(toy_script), str(tmp_path / "two"), *common, "--grad-accum", "1"])
    assert _matrix(one) == _matrix(two)
    for a, b in zip(_adapters(tmp_path / "one"), _adapters(tmp_path / "two")):
        for key in a:
            assert (a[key] - b[key]).abs().max() < 1e-5, key

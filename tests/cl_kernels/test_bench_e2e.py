"""The end-to-end benchmark (bench/bench_e2e.py) and the GPU check script (bench/gpu_check.sh) on
the CPU at toy shapes: the rebuilt released recipe computes what the library computes, a case
records what the results file promises, and the check script's plumbing works (--dry-run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


BENCH_MODULES = ("common", "bench_e2e", "released_recipe")


@pytest.fixture(scope="module")
def e2e():
    """bench_e2e and released_recipe imported from bench/ (whose ``common`` module is not the
    apps' ``common`` package that other tests may have imported under the same name)."""
    pytest.importorskip("transformers")
    saved = {name: sys.modules.pop(name) for name in BENCH_MODULES if name in sys.modules}
    sys.path.insert(0, str(BENCH))
    try:
        import bench_e2e
        import released_recipe

        yield bench_e2e, released_recipe
    finally:
        sys.path.remove(str(BENCH))
        for name in BENCH_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def _toy(e2e):
    bench, _ = e2e
    shape = bench.SHAPES["quick"]
    cpu = torch.device("cpu")
    return bench, shape, bench.base_model(shape, cpu), bench.make_batch(shape, cpu), cpu


def test_released_recipe_matches_the_library(e2e):
    """Same weights and adapters: equal outputs in eval mode, the O(P^2) walk pairs every
    lora_A with its own module's loranew_A, and the penalties equal the definitions."""
    bench, shape, base, batch, _ = _toy(e2e)
    released = e2e[1]
    lib, method, _ = bench.library_side("olora", base, n_old=2)
    wrapped, _ = bench.released_side(base, lib, n_old=2)
    lib.eval()
    wrapped.eval()
    with torch.no_grad():
        torch.testing.assert_close(wrapped(**batch).logits, lib(**batch).logits)
    names = [n for n, _ in wrapped.named_parameters()]
    assert "base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.default.weight" in names
    layers = list(released.released_lora_layers(wrapped).values())
    assert len(layers) == len(bench.stacked_lora_layers(lib)) == 6 * shape.layers
    orth, l2 = released.olora_penalties(wrapped)
    want_orth = sum(
        (m.lora_A["default"].weight @ m.loranew_A["default"].weight.T).abs().sum() for m in layers
    )
    want_l2 = sum(
        m.loranew_A["default"].weight.norm() + m.loranew_B["default"].weight.norm() for m in layers
    )
    torch.testing.assert_close(orth, want_orth)
    torch.testing.assert_close(l2, want_l2)
    lam1, lam2 = bench.OLORA_LAMBDAS
    torch.testing.assert_close(method.penalty(lib), lam1 * orth + lam2 * l2, rtol=1e-5, atol=1e-4)
    l1 = released.nlora_penalty(wrapped)
    want_l1 = sum(
        (m.loranew_A["default"].weight @ m.loranew_B["default"].weight).abs().sum() for m in layers
    )
    torch.testing.assert_close(l1, want_l1)
    trainable = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert trainable and all("loranew_" in n for n in trainable)


@pytest.mark.parametrize("method_name", ["olora", "nlora"])
def test_case_records_speed_memory_and_agreement(e2e, method_name):
    bench, shape, base, batch, cpu = _toy(e2e)
    row = bench.run_case(method_name, shape, base, batch, 2, cpu, rounds=1)
    assert row["check"]["agree"] and row["check"]["loss_rel_diff"] < 1e-4
    assert row["r_sum"] == 16 and row["tokens_per_step"] == shape.tokens
    for name in ("library", "released"):
        v = row["variants"][name]
        assert v["steps"] == 1 and v["min_ms"] > 0 and v["tokens_per_s"] > 0
        assert v["resident_mib"] > 0
    assert set(row["penalty_only_ms"]) == {"library", "library_reference_kernels", "released"}
    lib, rel = row["variants"]["library"], row["variants"]["released"]
    assert row["speedup"] == pytest.approx(lib["tokens_per_s"] / rel["tokens_per_s"])


def test_agreement_catches_a_different_recipe(e2e):
    """The pre-timing check is not a formality: a released side with other adapters fails."""
    bench, _, base, batch, _ = _toy(e2e)
    lib, method, _ = bench.library_side("olora", base, n_old=2)
    wrapped, _ = bench.released_side(base, lib, n_old=2)
    with torch.no_grad():
        next(iter(e2e[1].released_lora_layers(wrapped).values())).loranew_B["default"].weight.add_(
            0.5
        )
    with pytest.raises(RuntimeError, match="disagree"):
        bench.agreement("olora", lib, method, wrapped, batch, torch.float32)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}


def test_e2e_script_writes_its_results_file(e2e, tmp_path, monkeypatch, capsys):
    bench = e2e[0]
    argv = ["bench_e2e.py", "--quick", "--steps", "1", "--methods", "olora"]
    monkeypatch.setattr(sys, "argv", [*argv, "--output-dir", str(tmp_path)])
    threads = torch.get_num_threads()
    try:
        bench.main()  # sets one thread on the CPU
    finally:
        torch.set_num_threads(threads)
    record = json.loads((tmp_path / "e2e_quick_cpu.json").read_text())
    assert record["settings"]["shape"]["layers"] == 2 and record["settings"]["timed_steps"] == 1
    assert record["environment"]["device"] == "cpu" and record["environment"]["torch"]
    (case,) = record["cases"]
    assert case["method"] == "olora" and case["check"]["agree"]
    assert "library/released" in capsys.readouterr().out


def _gpu_check(tmp_path: Path, *args: str, python: str | None = None):
    env = _env()
    env["PYTHON"] = python or sys.executable
    out = tmp_path / "out"
    proc = subprocess.run(
        ["bash", str(BENCH / "gpu_check.sh"), "--dry-run", *args, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    summary = json.loads((out / "summary.json").read_text())
    return proc, out, summary


def test_gpu_check_dry_run_selected_steps(tmp_path):
    proc, out, summary = _gpu_check(tmp_path, "--only", "selfcheck")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [s["step"] for s in summary["steps"]] == ["selfcheck"]
    assert all(s["status"] == "ok" for s in summary["steps"])
    assert summary["dry_run"] is True and summary["device"] == "cpu"
    files = sorted(p.name for p in out.iterdir())
    assert files == ["gpu_check.log", "selfcheck.json", "summary.json"]
    log = (out / "gpu_check.log").read_text()
    assert "PASS:" in log and "gpu_check: all steps ok" in log


def test_gpu_check_reports_a_failing_step(tmp_path):
    proc, _, summary = _gpu_check(tmp_path, "--only", "selfcheck", python="false")
    assert proc.returncode == 1
    assert summary["steps"] == [
        {
            "step": "selfcheck",
            "status": "failed",
            "exit_code": 1,
            "seconds": summary["steps"][0]["seconds"],
        }
    ]
    assert "gpu_check: FAILED" in proc.stdout


@pytest.mark.slow
def test_gpu_check_full_dry_run(tmp_path):
    """Every step of the GPU script on the CPU at toy shapes (a few minutes)."""
    proc, out, summary = _gpu_check(tmp_path, "--budget", "1200")
    assert proc.returncode == 0, proc.stdout[-5000:]
    steps = [s["step"] for s in summary["steps"]]
    assert steps[:4] == ["environment", "selfcheck", "pytest_cuda", "bench_e2e"]
    assert {"bench_fisher", "bench_lora_linear", "bench_subspace", "bench_weighted_ce"} <= set(
        steps
    )
    names = {p.name for p in out.iterdir()}
    assert {"e2e_quick_cpu.json", "subspace_quick_cpu.json", "selfcheck.json"} <= names
    assert len(names) <= 8  # what a device run's $OUT brings back

"""Self-check: the probe of every op on every backend (``python -m cl_kernels --check``), and the
first-use guard of the dispatcher, which on CUDA probes a fused kernel before trusting it.

Without a GPU the guard is exercised on the CPU: the tests add "cpu" to the probed device types
and register a small op whose C++ slot holds a faulty function (wrong value, wrong gradient, an
error at compile or at launch), through the public registration API (``register_op`` with a
callable, ``unregister_op``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

import cl_kernels
from cl_kernels import _dispatch, use_backend
from cl_kernels._cli import main
from cl_kernels._dispatch import Op, register_op, unregister_op
from cl_kernels._selfcheck import ProbeCase, check, format_table, probe_backend

CPU = torch.device("cpu")


def _reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum() + a.square().sum()


def _good(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * (a + b)).sum()


def _wrong_value(a, b):
    return _reference(a, b) * 1.1


class _DoubleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _reference(a, b).detach()

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return 2 * g * (b + 2 * a), 2 * g * a


def _wrong_grad(a, b):
    return _DoubleGrad.apply(a, b)


class CompilationError(Exception):
    """Stands in for triton.compiler.errors.CompilationError."""


CompilationError.__module__ = "triton.compiler.errors"


def _compile_error(a, b):
    raise CompilationError("at 12:4: unsupported tensor shape (test)")


def _launch_error(a, b):
    raise RuntimeError("CUDA error: an illegal memory access was encountered (test)")


FAULTS = {
    "wrong_value": (_wrong_value, "max error forward"),
    "wrong_grad": (_DoubleGrad.apply, "backward"),
    "compile_error": (_compile_error, "compile error: CompilationError"),
    "launch_error": (_launch_error, "launch error: RuntimeError: CUDA error"),
}


class Probe:
    """A probe that counts its calls (each check builds the inputs twice)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
        self.calls += 1
        g = torch.Generator().manual_seed(0)
        a = torch.randn(5, 3, generator=g).to(device, dtype).requires_grad_()
        b = torch.randn(5, 3, generator=g).to(device, dtype).requires_grad_()
        return [ProbeCase((a, b))]


class Counted:
    def __init__(self, fn) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


@pytest.fixture
def guarded(monkeypatch):
    """Probe fused kernels on the CPU too, and register test ops (removed afterwards)."""
    monkeypatch.setattr(_dispatch, "PROBED_DEVICE_TYPES", frozenset({"cuda", "cpu"}))
    names = []

    def make(name: str, impl, probe: Probe | None = None) -> tuple[Counted, Probe]:
        counted, probe = Counted(impl), probe or Probe()
        register_op(Op(name, _reference, cpp=counted, probe=probe))
        names.append(name)
        return counted, probe

    yield make
    for name in names:
        unregister_op(name)


def _inputs(n: int = 5, dtype=torch.float32):
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, 3, generator=g).to(dtype), torch.randn(n, 3, generator=g).to(dtype)


def _call(name: str, a, b):
    return _dispatch.dispatch(name, a.device, a, b)


def test_every_fused_op_has_a_probe():
    for name, op in _dispatch.registered_ops().items():
        if op.triton is not None or op.cpp is not None:
            assert op.probe is not None, name
            cases = op.probe(torch.float32, CPU)
            assert cases and all(isinstance(c, ProbeCase) for c in cases), name
    with pytest.raises(ValueError, match="no probe"):
        register_op(Op("test_no_probe", _reference, cpp=_good))
    assert "test_no_probe" not in _dispatch.registered_ops()


def test_good_kernel_is_probed_once_then_trusted(guarded):
    impl, probe = guarded("test_good", _good)
    a, b = _inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            torch.testing.assert_close(_call("test_good", a, b), _reference(a, b))
    assert probe.calls == 2  # reference inputs + kernel inputs, once
    assert impl.calls == 1 + 3  # the probe, then every call
    assert _dispatch.self_check_results()[("test_good", "cpp", CPU, torch.float32)] is True


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faulty_kernel_falls_back_with_one_warning(guarded, fault):
    fn, message = FAULTS[fault]
    name = f"test_{fault}"
    impl, probe = guarded(name, fn)
    a, b = _inputs()
    with pytest.warns(RuntimeWarning, match=f"cl_kernels.{name}: the cpp kernel failed") as rec:
        got = _call(name, a, b)
    assert len(rec) == 1 and message in str(rec[0].message), str(rec[0].message)
    assert torch.equal(got, _reference(a, b))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(_call(name, a, b), _reference(a, b))
    assert impl.calls == 1 and probe.calls == 2  # never called again, never probed again
    assert _dispatch.self_check_results()[(name, "cpp", CPU, torch.float32)] is False


def test_probe_checks_gradients_under_no_grad_and_keeps_the_rng(guarded):
    """The first call may come from an evaluation loop: the probe still runs backward, outside
    autocast and inference mode, and leaves the global RNG where it was."""
    guarded("test_grad_eval", _wrong_grad)
    a, b = _inputs()
    state = torch.get_rng_state()
    with (
        torch.inference_mode(),
        torch.autocast("cpu", dtype=torch.bfloat16),
        pytest.warns(RuntimeWarning, match="backward"),
    ):
        _call("test_grad_eval", a, b)
    assert torch.equal(torch.get_rng_state(), state)


def test_env_zero_skips_the_probe(guarded, monkeypatch):
    monkeypatch.setenv(_dispatch.SELF_CHECK_ENV, "0")
    impl, probe = guarded("test_unchecked", _wrong_value)
    a, b = _inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _call("test_unchecked", a, b)
    assert probe.calls == 0 and impl.calls == 1
    assert not torch.allclose(got, _reference(a, b))


def test_compile_error_at_a_later_call_falls_back(guarded):
    """A configuration only large inputs use fails to compile after the probe passed."""

    def big_fails(a, b):
        if a.shape[0] > 5:
            raise CompilationError("out of resource: shared memory (test)")
        return _good(a, b)

    impl, _ = guarded("test_late", big_fails)
    a, b = _inputs(5)
    _call("test_late", a, b)  # probe + call: fine
    big = _inputs(64)
    with pytest.warns(RuntimeWarning, match="shared memory") as rec:
        torch.testing.assert_close(_call("test_late", *big), _reference(*big))
    assert len(rec) == 1
    calls = impl.calls
    torch.testing.assert_close(_call("test_late", a, b), _reference(a, b))
    assert impl.calls == calls  # distrusted for the rest of the process


def test_other_errors_of_a_trusted_kernel_propagate(guarded):
    def big_raises(a, b):
        if a.shape[0] > 5:
            raise ValueError("a real bug (test)")
        return _good(a, b)

    guarded("test_raise", big_raises)
    _call("test_raise", *_inputs(5))
    with pytest.raises(ValueError, match="a real bug"):
        _call("test_raise", *_inputs(9))


def test_verdicts_are_per_dtype(guarded):
    def wrong_in_half(a, b):
        out = _good(a, b)
        return out * 1.5 if a.dtype == torch.bfloat16 else out

    guarded("test_dtypes", wrong_in_half)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _call("test_dtypes", *_inputs())
    with pytest.warns(RuntimeWarning, match="bfloat16"):
        _call("test_dtypes", *_inputs(dtype=torch.bfloat16))
    results = _dispatch.self_check_results()
    assert results[("test_dtypes", "cpp", CPU, torch.float32)] is True
    assert results[("test_dtypes", "cpp", CPU, torch.bfloat16)] is False


def test_library_ops_pass_the_guard(guarded):
    """The real probes through the real dispatch: C++ penalties on the CPU."""
    if not _dispatch.cpp_status("subspace")[0]:
        pytest.skip("cl_kernels._cpp_subspace is not built")
    a_old = [torch.randn(7, 16)]
    a_new = [torch.randn(2, 16, requires_grad=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cl_kernels.orthogonality_penalty(a_old, a_new).backward()
        cl_kernels.l2_penalty(a_new)
    results = _dispatch.self_check_results()
    assert results[("orthogonality_penalty", "cpp", CPU, torch.float32)] is True
    assert results[("l2_penalty", "cpp", CPU, torch.float32)] is True


def test_lora_linear_is_keyed_by_its_compute_dtype(guarded, triton_device):
    """Under autocast the Triton lora_linear computes in the autocast dtype, so that is what its
    probe checks (here in Triton's interpreter)."""
    if triton_device.type != "cpu":
        pytest.skip("CPU interpreter variant")
    x, w = torch.randn(3, 8), torch.randn(6, 8)
    a, b = torch.randn(2, 8), torch.randn(6, 2)
    empty_a, empty_b = torch.zeros(0, 8), torch.zeros(6, 0)
    with use_backend("triton"), torch.autocast("cpu", dtype=torch.bfloat16):
        y = cl_kernels.lora_linear(x, w, None, empty_a, empty_b, a, b, 2.0)
    assert y.dtype == torch.bfloat16
    assert _dispatch.self_check_results() == {("lora_linear", "triton", CPU, torch.bfloat16): True}


# ----------------------------------------------------------------------------- the check CLI


def test_check_reference_and_cpp_pass_here():
    rows = check(backends=["reference", "cpp"])
    assert {r.op for r in rows} == set(_dispatch.registered_ops())
    assert not [r for r in rows if r.failed], format_table(rows)
    ran = [r for r in rows if r.backend == "cpp" and r.status == "ok"]
    if _dispatch.cpp_status("subspace")[0]:
        assert {"orthogonality_penalty", "l2_penalty", "nlora_penalty"} <= {r.op for r in ran}
        assert all(r.forward_error is not None and r.forward_error < r.tolerance for r in ran)


def test_check_triton_under_the_interpreter(triton_device, capsys):
    """Every op's Triton kernels against the reference (the interpreter on a CPU machine)."""
    assert main(["--check", "--backend", "triton"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out
    for name in _dispatch.registered_ops():
        assert name in out
    assert ", 0 skipped" in out


def test_check_cli_fails_on_a_faulty_backend(capsys, tmp_path):
    probe = Probe()
    register_op(Op("test_cli_wrong", _reference, cpp=_wrong_value, probe=probe))
    register_op(Op("test_cli_error", _reference, cpp=_launch_error, probe=probe))
    register_op(Op("test_cli_good", _reference, cpp=_good, probe=probe))
    try:
        ops = ["--op", "test_cli_wrong", "--op", "test_cli_error", "--op", "test_cli_good"]
        out_json = tmp_path / "check.json"
        assert main(["--check", *ops, "--json", str(out_json)]) == 1
    finally:
        for name in ("test_cli_wrong", "test_cli_error", "test_cli_good"):
            unregister_op(name)
    out = capsys.readouterr().out
    lines = {
        line.split()[0] + "/" + line.split()[1] + "/" + line.split()[3]: line
        for line in out.splitlines()
        if line.startswith("test_cli")
    }
    assert "MISMATCH" in lines["test_cli_wrong/cpp/float32"]
    assert "ERROR" in lines["test_cli_error/cpp/float32"]
    assert "launch error" in lines["test_cli_error/cpp/float32"]
    assert lines["test_cli_good/cpp/float32"].split()[-1] == "ok"
    assert "ok (reference)" in lines["test_cli_good/reference/float32"]
    assert out.strip().splitlines()[-1].startswith("FAIL:")
    record = json.loads(out_json.read_text())
    statuses = {(r["op"], r["backend"], r["dtype"]): r["status"] for r in record["rows"]}
    assert statuses[("test_cli_wrong", "cpp", "bfloat16")] == "mismatch"
    assert statuses[("test_cli_good", "cpp", "float16")] == "ok"
    assert record["environment"]["torch"] == torch.__version__
    assert main(["--check", "--op", "no_such_op"]) == 2


def test_check_cli_subprocess_exit_code_and_table():
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", _dispatch.ENV_VAR)}
    proc = subprocess.run(
        [sys.executable, "-m", "cl_kernels", "--check", "--dtype", "float32"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[1].split() == [
        "op",
        "backend",
        "device",
        "dtype",
        "fwd",
        "err",
        "bwd",
        "err",
        "tol",
        "result",
    ]
    assert lines[-1].startswith("PASS:")
    triton_rows = [line for line in lines if line.split()[1:2] == ["triton"]]
    assert triton_rows and all("TRITON_INTERPRET" in line for line in triton_rows)


def test_cli_without_check_prints_the_availability_table(capsys):
    assert main([]) == 0
    assert "orthogonality_penalty:" in capsys.readouterr().out


def test_probe_backend_never_raises_on_a_broken_probe():
    def broken(dtype, device):
        raise RuntimeError("probe bug (test)")

    op = Op("test_broken_probe", _reference, cpp=_good, probe=broken)
    row = probe_backend(op, "cpp", CPU, torch.float32)
    assert row.status == "error" and "probe bug" in row.detail

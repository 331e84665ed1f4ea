"""Backend selection: forcing by environment and context, device rules, graceful degradation
(one warning per reason, never an error), info(), and an install/import without Triton or a
compiler."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import cl_kernels
from cl_kernels import _dispatch, use_backend

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "cl-kernels"


def _cpp_built(stem: str) -> bool:
    return _dispatch.cpp_status(stem)[0]


def test_auto_rules_by_device():
    expected_cpu = "cpp" if _cpp_built("subspace") else "reference"
    assert _dispatch.select("orthogonality_penalty", CPU) == expected_cpu
    # an op without a C++ version stays on the reference on CPU, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _dispatch.select("fisher_accumulate", CPU, [], [], 1.0) == "reference"
    # a C++ op can decline a call (nlora "ab" is slower in C++)
    assert _dispatch.select("nlora_penalty", CPU, [], [], "ab") == "reference"
    # auto never sends CPU tensors to the Triton interpreter
    assert _dispatch.select("l2_penalty", CPU, []) != "triton"


def test_auto_on_cuda_picks_triton_when_importable(monkeypatch):
    monkeypatch.setattr(_dispatch, "_TRITON_IMPORT", (True, ""))
    assert _dispatch.select("orthogonality_penalty", CUDA) == "triton"


def test_env_var_forces_and_context_overrides(monkeypatch):
    monkeypatch.setenv(_dispatch.ENV_VAR, "reference")
    assert _dispatch.select("orthogonality_penalty", CPU) == "reference"
    with use_backend("triton"):
        assert _dispatch.forced_backend() == "triton"
        with use_backend(None):
            assert _dispatch.forced_backend() is None
        assert _dispatch.forced_backend() == "triton"
    assert _dispatch.forced_backend() == "reference"
    monkeypatch.setenv(_dispatch.ENV_VAR, "auto")
    assert _dispatch.forced_backend() is None


def test_invalid_backend_names_are_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="use_backend"), use_backend("cuda"):
        pass
    monkeypatch.setenv(_dispatch.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="CL_KERNELS_BACKEND"):
        cl_kernels.l2_penalty([torch.ones(2)])
    assert "invalid" in str(cl_kernels.info()["forced"])


def test_missing_triton_on_cuda_warns_once(monkeypatch):
    monkeypatch.setattr(_dispatch, "_TRITON_IMPORT", (False, "triton is not importable (test)"))
    with pytest.warns(RuntimeWarning, match="not importable"):
        assert _dispatch.select("orthogonality_penalty", CUDA) == "reference"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _dispatch.select("ewc_penalty", CUDA) == "reference"  # same reason: no 2nd warning


def test_missing_extension_degrades_with_one_warning(monkeypatch):
    monkeypatch.setitem(_dispatch._CPP, "subspace", (False, "extension not built (test)"))
    old, new = [torch.tensor([[1.0, 0.0], [0.0, 2.0]])], [torch.tensor([[1.0, 1.0]])]
    with pytest.warns(RuntimeWarning, match="not built"):
        assert cl_kernels.orthogonality_penalty(old, new).item() == 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cl_kernels.l2_penalty(new).item() == pytest.approx(2**0.5)


def test_forced_backend_that_cannot_run_falls_back(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # CPU tensors cannot go to Triton now
    x = [torch.tensor([3.0, 4.0])]
    with use_backend("triton"):
        with pytest.warns(RuntimeWarning, match="TRITON_INTERPRET"):
            assert cl_kernels.l2_penalty(x).item() == 5.0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert cl_kernels.l2_penalty(x).item() == 5.0
    with use_backend("cpp"), pytest.warns(RuntimeWarning, match="not provided"):
        cl_kernels.fisher_accumulate([torch.zeros(2)], [torch.ones(2)], 1.0)


def test_info_reports_every_op_and_backend():
    data = cl_kernels.info()
    assert set(data["backends"]) == set(_dispatch.BACKENDS)
    ops = {
        "orthogonality_penalty",
        "l2_penalty",
        "nlora_penalty",
        "fisher_accumulate",
        "fisher_merge",
        "ewc_penalty",
    }
    assert ops <= set(data["ops"])
    for row in data["ops"].values():
        assert set(row) == set(_dispatch.BACKENDS)
        assert row["reference"] == "available"
        assert all(isinstance(v, str) and v for v in row.values())
    assert data["ops"]["fisher_accumulate"]["cpp"].startswith("not provided:")
    text = cl_kernels.format_info(data)
    assert "orthogonality_penalty" in text and "fisher_merge" in text


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop(_dispatch.ENV_VAR, None)
    env.pop("TRITON_INTERPRET", None)
    return env


def test_import_and_ops_work_without_triton():
    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import torch, cl_kernels\n"
        "info = cl_kernels.info()\n"
        "assert 'not importable' in info['backends']['triton'], info['backends']\n"
        "a = [torch.tensor([[1.0, 0.0], [0.0, 2.0]])]; b = [torch.tensor([[1.0, 1.0]])]\n"
        "assert cl_kernels.orthogonality_penalty(a, b).item() == 3.0\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_subprocess_env()
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_build_without_a_compiler_still_succeeds(tmp_path):
    """A broken compiler (or no pybind11) makes setup.py skip the extensions with a warning,
    not fail."""
    pytest.importorskip("setuptools")
    try:
        import pybind11  # noqa: F401

        expected = "could not build the C++ extension cl_kernels._cpp_subspace"
    except ImportError:
        expected = "pybind11 is not installed"
    copy = tmp_path / "cl-kernels"
    shutil.copytree(
        PACKAGE, copy, ignore=shutil.ignore_patterns("build", "*.so", "*.egg-info", "__pycache__")
    )
    env = _subprocess_env()
    env.update({"CC": "false", "CXX": "false", "LDSHARED": "false"})
    out = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=copy,
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert expected in out.stderr
    assert not list((copy / "src" / "cl_kernels").glob("_cpp_*.so"))

"""Fixtures of the cl-kernels tests.

Without a GPU, the Triton kernels run on CPU tensors through Triton's interpreter: this file sets
``TRITON_INTERPRET=1`` when it is imported, which is before any ``cl_kernels.triton`` module is
(they are imported lazily on first use). Keep interpreter shapes tiny.
"""

from __future__ import annotations

import importlib
import os

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

from cl_kernels import _dispatch  # noqa: E402

DTYPES = [torch.float32, torch.bfloat16, torch.float16]

# Tolerances of fused vs reference, per dtype of the inputs. The subspace and Fisher ops compute
# in float32 whatever the input dtype, so values agree to float32 rounding (order of summation);
# gradients are rounded to the input dtype, hence one or two units in its last place.
TOL = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
    torch.bfloat16: {"rtol": 2e-2, "atol": 1e-2},
    torch.float16: {"rtol": 2e-3, "atol": 1e-3},
}
VALUE_TOL = {"rtol": 1e-4, "atol": 1e-4}


def triton_importable() -> bool:
    return _dispatch.triton_importable()[0]


@pytest.fixture
def triton_device() -> torch.device:
    """Where the Triton kernels run here: CUDA when present, else the CPU under the interpreter."""
    if not triton_importable():
        pytest.skip(_dispatch.triton_importable()[1])
    if HAS_CUDA:
        return torch.device("cuda")
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and TRITON_INTERPRET is not 1")
    return torch.device("cpu")


def require_cpp(stem: str) -> None:
    """Skip unless the extension ``cl_kernels._cpp_<stem>`` is built (pip install, or
    ``python setup.py build_ext --inplace`` in packages/cl-kernels)."""
    try:
        importlib.import_module(f"cl_kernels._cpp_{stem}")
    except ImportError as exc:
        pytest.skip(f"cl_kernels._cpp_{stem} is not built: {exc}")


@pytest.fixture(autouse=True)
def _clean_dispatch(monkeypatch):
    """No forced backend or self-check setting leaks in from the environment; fallback warnings
    and self-check verdicts start fresh."""
    monkeypatch.delenv(_dispatch.ENV_VAR, raising=False)
    monkeypatch.delenv(_dispatch.SELF_CHECK_ENV, raising=False)
    _dispatch.reset_warnings()
    _dispatch.reset_self_check()
    yield
    _dispatch.reset_warnings()
    _dispatch.reset_self_check()


def clone_inputs(tensors, device=None, dtype=None):
    """Independent leaf copies (same requires_grad) for running two backends on equal inputs."""
    out = []
    for t in tensors:
        c = t.detach().clone()
        if device is not None:
            c = c.to(device)
        if dtype is not None:
            c = c.to(dtype)
        out.append(c.requires_grad_(t.requires_grad))
    return out


def grad_or_zero(t: torch.Tensor) -> torch.Tensor:
    return t.grad if t.grad is not None else torch.zeros_like(t)


@pytest.fixture
def kt():
    """The helpers above, for test modules (pytest runs with --import-mode=importlib, so test
    files cannot import this conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        TOL=TOL,
        VALUE_TOL=VALUE_TOL,
        HAS_CUDA=HAS_CUDA,
        require_cpp=require_cpp,
        clone_inputs=clone_inputs,
        grad_or_zero=grad_or_zero,
    )

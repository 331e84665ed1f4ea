"""Shared test fixtures: the location of the shared benchmark data, a runner of the app scripts
in a subprocess, and a loader of helper modules by file path (test folders are not packages)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

# Without a GPU the Triton kernels run on CPU tensors through Triton's interpreter, which
# `triton.jit` picks when a kernel is defined: set it here, before any test module imports a
# `cl_kernels.triton` module (the root conftest is loaded before every test folder is collected).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """accelerate keeps one global state per process (precision, device) and refuses a second
    Accelerator with other settings; a real run has one per process, the test process builds
    many. Reset it after each test, as accelerate's own test cases do."""
    yield
    state = sys.modules.get("accelerate.state")
    if state is not None:
        state.AcceleratorState._reset_state(reset_partial_state=False)


def shared_data_dir() -> Path:
    """`$CL_SHARED_DATA`, defaulting to `../shared/data` beside the project root."""
    return Path(os.environ.get("CL_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared benchmark data folder; skips the test (with the reason) when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared benchmark data not found at {path} (set CL_SHARED_DATA to its folder)")
    return path


@pytest.fixture(scope="session")
def taalm_data(shared_data: Path) -> Path:
    """The shared TAALM data folder (LAMA-ckl and TemporalWiki); skips when it is absent."""
    root = shared_data / "taalm"
    if not (root / "LAMA_ckl").is_dir() or not (root / "TemporalWiki" / "eval").is_dir():
        pytest.skip(f"shared TAALM data not found at {root} (set CL_SHARED_DATA)")
    return root


FAULTS = Path(__file__).resolve().parent / "fault_injection.py"


def run_app_script(
    script: str,
    *args: str,
    env: dict | None = None,
    timeout: int = 900,
    kill_after_step: int | None = None,
):
    """Run ``apps/<script> *args`` with this Python from the project root (tokenizer threads
    off, unbuffered output, ``env`` on top of the environment); returns the CompletedProcess.
    ``kill_after_step``: SIGKILL the app after its first checkpoint at or after that global step
    (through ``tests/fault_injection.py``, a trainer callback)."""
    full_env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    full_env.update(env or {})
    inject = (
        [] if kill_after_step is None else [str(FAULTS), "--kill-after-step", str(kill_after_step)]
    )
    return subprocess.run(
        [sys.executable, *inject, str(ROOT / "apps" / script), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )


@pytest.fixture(scope="session")
def app_script() -> Callable[..., subprocess.CompletedProcess]:
    """``run_app_script`` for the app tests (conftest modules cannot be imported)."""
    return run_app_script


@pytest.fixture(scope="session")
def faults() -> ModuleType:
    """``tests/fault_injection.py``: callbacks that stop a run at a chosen checkpoint."""
    return load_module_file(FAULTS, "fault_injection")


def load_module_file(path: Path, name: str, register: bool = True) -> ModuleType:
    """Execute the Python file ``path`` as module ``name`` (put in ``sys.modules`` first when
    ``register``, so that pickling and dataclasses can find it) and return the module."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def module_file() -> Callable[..., ModuleType]:
    """``load_module_file`` for the folder conftests (conftest modules cannot be imported)."""
    return load_module_file

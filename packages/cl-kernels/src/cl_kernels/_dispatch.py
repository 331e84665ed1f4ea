"""Backend selection for every cl-kernels op.

Each op registers three implementations with one signature: the PyTorch reference (always there),
a Triton one (``"module:function"`` under ``cl_kernels.triton``, imported only when first used) and
a C++ one (``"module:function"`` under ``cl_kernels.cpp``, a thin wrapper over the extension
``cl_kernels._cpp_<stem>``), or the reason why there is none.

Selection, per call:

1. a forced backend: the innermost ``use_backend(name)`` block, else ``$CL_KERNELS_BACKEND``
   (``reference``, ``triton``, ``cpp``; ``auto`` or unset means no forcing);
2. otherwise by device: CUDA tensors -> Triton when importable, CPU tensors -> C++ when the op has
   one and its extension is built, everything else -> the reference.

A backend that cannot serve the call (Triton not installed, extension not built, op without C++,
CPU tensors for Triton outside ``TRITON_INTERPRET=1``, ...) falls back to the reference with one
``RuntimeWarning`` per distinct reason, never an error. ``info()`` reports it all.

Self-check on first use: on the device types in ``PROBED_DEVICE_TYPES`` (CUDA), the first call of
each (op, backend, device, dtype) in a process runs the op's probe (``Op.probe``, small inputs,
forward and backward) on the fused backend and on the reference before the kernel is trusted. A
mismatch, or an exception while loading, compiling or launching it, sends that (op, device, dtype)
to the reference for the rest of the process, with one ``RuntimeWarning`` naming the op and the
error; so does a Triton compile error (an exception raised from a ``triton`` module) at a later
call, e.g. for a tile configuration that only large inputs use. ``CL_KERNELS_SELF_CHECK=0`` skips
the probe (read at the first call of each key). After the first call the check costs one dict
lookup per call. ``python -m cl_kernels --check`` runs the same probes for every op and backend.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

BACKENDS = ("reference", "triton", "cpp")
ENV_VAR = "CL_KERNELS_BACKEND"
SELF_CHECK_ENV = "CL_KERNELS_SELF_CHECK"
PROBE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
# Device types whose fused kernels run the self-check probe before their first use in a process.
PROBED_DEVICE_TYPES = frozenset({"cuda"})


@dataclass
class Op:
    """One public op and its implementations (see the module docstring)."""

    name: str
    reference: Callable[..., Any]
    # Each fused implementation: "module:function" under cl_kernels.<backend> (imported on first
    # use), or the function itself.
    triton: str | Callable[..., Any] | None = None
    cpp: str | Callable[..., Any] | None = None
    # The stem of the .cpp file whose extension the C++ implementation needs (None: none).
    cpp_extension: str | None = None
    no_triton_reason: str = "no Triton implementation"
    no_cpp_reason: str = "no C++ implementation"
    # Optional per-call check of the C++ wrapper: returns None when it can serve these arguments,
    # else the reason (e.g. "float32 only"); the call then goes to the reference without warning.
    cpp_accepts: Callable[..., str | None] | None = None
    # Shown by info() next to an available C++ backend (e.g. which cases it declines and why).
    cpp_note: str = ""
    # Self-check: ``probe(dtype, device)`` builds small inputs (a list of ``ProbeCase``, see
    # ``cl_kernels._selfcheck``); required when the op has a fused implementation. Calling it
    # twice must give equal inputs (a fixed seed).
    probe: Callable[[torch.dtype, torch.device], list[Any]] | None = None
    probe_dtypes: tuple[torch.dtype, ...] = PROBE_DTYPES
    # The dtype a call computes in, which keys its self-check (default: that of the first tensor
    # in the arguments; lora_linear: the autocast dtype when autocast is on).
    compute_dtype: Callable[..., torch.dtype] | None = None
    _loaded: dict[str, Callable[..., Any]] = field(default_factory=dict, repr=False)


_OPS: dict[str, Op] = {}
_WARNED: set[str] = set()
_LOCAL = threading.local()


def register_op(op: Op) -> Op:
    """Add an op to the dispatcher (its name must be new). An op with a fused implementation
    must bring a probe for the self-check."""
    if op.name in _OPS:
        raise ValueError(f"cl_kernels: op {op.name!r} is registered twice")
    if (op.triton is not None or op.cpp is not None) and op.probe is None:
        raise ValueError(
            f"cl_kernels: op {op.name!r} has a fused implementation but no probe for the "
            "self-check (Op(probe=...), see CONTRIBUTING-ops.md)"
        )
    _OPS[op.name] = op
    return op


def unregister_op(name: str) -> None:
    """Remove an op and forget its self-check results (for ops registered at run time)."""
    _OPS.pop(name)
    for key in [k for k in _TRUST if k[0] == name]:
        del _TRUST[key]


def registered_ops() -> dict[str, Op]:
    return dict(_OPS)


# ----------------------------------------------------------------------------- forcing


@contextlib.contextmanager
def use_backend(name: str | None) -> Iterator[None]:
    """Force a backend (``"reference"``, ``"triton"``, ``"cpp"``; ``None``/``"auto"`` = no forcing)
    for every op called inside the block, in this thread. Overrides ``$CL_KERNELS_BACKEND``."""
    name = _check_name(name, "use_backend")
    stack = _stack()
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


def _stack() -> list[str | None]:
    if not hasattr(_LOCAL, "stack"):
        _LOCAL.stack = []
    return _LOCAL.stack


def _check_name(name: str | None, where: str) -> str | None:
    if name is None or name == "auto" or name == "":
        return None
    if name not in BACKENDS:
        raise ValueError(f"{where}: backend must be one of {(*BACKENDS, 'auto')}, got {name!r}")
    return name


def forced_backend() -> str | None:
    stack = _stack()
    if stack:
        return stack[-1]
    return _check_name(os.environ.get(ENV_VAR), f"${ENV_VAR}")


# ----------------------------------------------------------------------------- availability


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


_TRITON_IMPORT: tuple[bool, str] | None = None


def triton_importable() -> tuple[bool, str]:
    """(ok, reason): whether ``import triton`` works (cached)."""
    global _TRITON_IMPORT
    if _TRITON_IMPORT is None:
        try:
            import triton  # noqa: F401

            _TRITON_IMPORT = (True, "")
        except Exception as exc:  # ImportError, or a broken install
            _TRITON_IMPORT = (False, f"triton is not importable ({type(exc).__name__}: {exc})")
    return _TRITON_IMPORT


def triton_status(device: torch.device | None = None) -> tuple[bool, str]:
    """(ok, reason) for running Triton kernels on ``device`` (any device when None)."""
    ok, reason = triton_importable()
    if not ok:
        return ok, reason
    if device is not None and device.type == "cpu" and not _interpret():
        return False, "Triton runs CPU tensors only under TRITON_INTERPRET=1 (set before import)"
    if device is None and not torch.cuda.is_available() and not _interpret():
        return False, "no CUDA device (and TRITON_INTERPRET is not 1)"
    return True, ""


_CPP: dict[str, tuple[bool, str]] = {}


def cpp_status(stem: str) -> tuple[bool, str]:
    """(ok, reason): whether the extension ``cl_kernels._cpp_<stem>`` is importable (cached)."""
    if stem not in _CPP:
        try:
            importlib.import_module(f"cl_kernels._cpp_{stem}")
            _CPP[stem] = (True, "")
        except ImportError as exc:
            _CPP[stem] = (
                False,
                f"extension cl_kernels._cpp_{stem} is not built ({exc}); reinstall the package "
                "with a C++ compiler, or run `python setup.py build_ext --inplace` in "
                "packages/cl-kernels",
            )
    return _CPP[stem]


def op_status(op: Op, backend: str, device: torch.device | None = None) -> tuple[bool, str]:
    """(ok, reason) for ``backend`` serving ``op`` on ``device``."""
    if backend == "reference":
        return True, ""
    if backend == "triton":
        if op.triton is None:
            return False, f"not provided: {op.no_triton_reason}"
        return triton_status(device)
    if backend == "cpp":
        if op.cpp is None:
            return False, f"not provided: {op.no_cpp_reason}"
        if device is not None and device.type != "cpu":
            return False, f"the C++ kernels take CPU tensors, got {device.type}"
        if op.cpp_extension is None:
            return True, ""
        return cpp_status(op.cpp_extension)
    raise ValueError(f"unknown backend {backend!r}")


# ----------------------------------------------------------------------------- dispatch


def warn_once(key: str, message: str) -> None:
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=5)  # points at the caller of the op


def reset_warnings() -> None:
    """Forget which fallbacks were already warned about (for tests)."""
    _WARNED.clear()


def load_backend(op: Op, backend: str) -> Callable[..., Any]:
    """The implementation of ``op`` on a fused ``backend`` (imported on first use)."""
    if backend not in op._loaded:
        target = op.triton if backend == "triton" else op.cpp
        if target is None:
            raise ValueError(f"op {op.name} has no {backend} implementation")
        if callable(target):
            op._loaded[backend] = target
        else:
            module, _, attr = target.partition(":")
            op._loaded[backend] = getattr(
                importlib.import_module(f"cl_kernels.{backend}.{module}"), attr
            )
    return op._loaded[backend]


def select(op_name: str, device: torch.device, *args: Any, **kwargs: Any) -> str:
    """The backend that will run ``op_name`` for tensors on ``device`` (and these arguments)."""
    op = _OPS[op_name]
    forced = forced_backend()
    if forced is not None:
        ok, reason = op_status(op, forced, device)
        if ok and forced == "cpp" and op.cpp_accepts is not None:
            why = op.cpp_accepts(*args, **kwargs)
            if why is not None:
                ok, reason = False, why
        if ok:
            return forced
        warn_once(
            f"{op_name}:{forced}:{reason}",
            f"cl_kernels.{op_name}: backend {forced!r} was forced but cannot run here "
            f"({reason}); using the PyTorch reference.",
        )
        return "reference"
    if device.type == "cuda":
        ok, reason = op_status(op, "triton", device)
        if ok:
            return "triton"
        if op.triton is not None:  # the op has a Triton kernel but Triton is missing
            warn_once(
                f"triton:{reason}",
                f"cl_kernels: {reason}; CUDA tensors use the PyTorch reference ops.",
            )
        return "reference"
    if device.type == "cpu" and op.cpp is not None:
        ok, reason = op_status(op, "cpp", device)
        if not ok:
            warn_once(f"cpp:{reason}", f"cl_kernels: {reason}; CPU tensors use the reference.")
            return "reference"
        if op.cpp_accepts is not None and op.cpp_accepts(*args, **kwargs) is not None:
            return "reference"
        return "cpp"
    return "reference"


def dispatch(op_name: str, device: torch.device, *args: Any, **kwargs: Any) -> Any:
    """Run ``op_name`` on the backend chosen by :func:`select`; on a probed device type, only
    once the backend has passed its self-check for this op, device and dtype."""
    backend = select(op_name, device, *args, **kwargs)
    op = _OPS[op_name]
    if backend == "reference":
        return op.reference(*args, **kwargs)
    if device.type not in PROBED_DEVICE_TYPES:
        return load_backend(op, backend)(*args, **kwargs)
    dtype = op.compute_dtype(*args, **kwargs) if op.compute_dtype else first_dtype(args)
    key = (op_name, backend, device, dtype)
    trusted = _TRUST.get(key)
    if trusted is None:
        trusted = _establish_trust(op, backend, device, dtype, key)
    if not trusted:
        return op.reference(*args, **kwargs)
    try:
        return op._loaded[backend](*args, **kwargs)
    except Exception as exc:
        if not type(exc).__module__.startswith("triton"):
            raise
        # a compile error (e.g. out of shared memory) for a configuration the probe did not use
        _distrust(op, backend, device, dtype, key, f"{type(exc).__name__}: {exc}")
        return op.reference(*args, **kwargs)


def device_of(*groups: Any) -> torch.device:
    """The device of the first tensor found in the arguments (CPU when there is none)."""
    for group in groups:
        if isinstance(group, torch.Tensor):
            return group.device
        if isinstance(group, list | tuple):
            for t in group:
                if isinstance(t, torch.Tensor):
                    return t.device
    return torch.device("cpu")


def first_dtype(groups: Any) -> torch.dtype | None:
    """The dtype of the first tensor found in the arguments (None when there is none)."""
    for group in groups:
        if isinstance(group, torch.Tensor):
            return group.dtype
        if isinstance(group, list | tuple):
            for t in group:
                if isinstance(t, torch.Tensor):
                    return t.dtype
    return None


# ----------------------------------------------------------------------------- self-check

_TRUST: dict[tuple[str, str, torch.device, torch.dtype | None], bool] = {}
_TRUST_LOCK = threading.Lock()


@torch.compiler.disable
def _establish_trust(
    op: Op, backend: str, device: torch.device, dtype: torch.dtype | None, key: tuple
) -> bool:
    """First call of ``key``: run the probe (unless disabled) and remember the verdict."""
    with _TRUST_LOCK:
        if key in _TRUST:
            return _TRUST[key]
        if os.environ.get(SELF_CHECK_ENV, "1") == "0":
            load_backend(op, backend)
            _TRUST[key] = True
            return True
        if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            load_backend(op, backend)  # a probe cannot run inside CUDA graph capture: trust this
            return True  # call unchecked, and decide at the first call outside a capture
        from ._selfcheck import probe_backend

        result = probe_backend(op, backend, device, dtype or torch.float32)
        if result.status == "ok":
            _TRUST[key] = True
            return True
    _distrust(op, backend, device, dtype, key, result.detail)
    return False


def _distrust(op: Op, backend: str, device: torch.device, dtype, key: tuple, why: str) -> None:
    _TRUST[key] = False
    warn_once(
        f"selfcheck:{key}",
        f"cl_kernels.{op.name}: the {backend} kernel failed its self-check on {device} for "
        f"{dtype} ({why}); cl_kernels.{op.name} uses the PyTorch reference there for the rest of "
        f"this process. Please report this with the output of `python -m cl_kernels --check`.",
    )


def self_check_results() -> dict[tuple[str, str, torch.device, torch.dtype | None], bool]:
    """What the self-check decided so far in this process: {(op, backend, device, dtype):
    trusted}."""
    return dict(_TRUST)


def reset_self_check() -> None:
    """Forget every self-check verdict (the next call of each op probes again)."""
    _TRUST.clear()


# ----------------------------------------------------------------------------- info


def info() -> dict[str, Any]:
    """What each backend can do here, per op, and why not.

    Returns ``{"forced": ..., "backends": {name: "available" | reason},
    "ops": {op: {backend: "available" | reason}}}``; ``python -m cl_kernels`` prints it.
    """
    cuda = torch.device("cuda") if torch.cuda.is_available() else None
    t_ok, t_reason = triton_status(cuda)
    backends = {
        "reference": "available",
        "triton": "available" if t_ok else t_reason,
        "cpp": "available (per op, see ops)",
    }
    ops: dict[str, dict[str, str]] = {}
    for name, op in sorted(_OPS.items()):
        row = {}
        for backend in BACKENDS:
            device = torch.device("cpu") if backend == "cpp" else cuda
            ok, reason = op_status(op, backend, device)
            row[backend] = "available" if ok else reason
            if ok and backend == "cpp" and op.cpp_note:
                row[backend] = f"available; {op.cpp_note}"
        ops[name] = row
    try:
        forced = forced_backend()
    except ValueError as exc:
        forced = f"invalid: {exc}"
    return {
        "forced": forced,
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if cuda is not None else None,
        "backends": backends,
        "ops": ops,
    }


def format_info(data: dict[str, Any] | None = None) -> str:
    data = info() if data is None else data
    lines = [
        f"cl_kernels: torch {data['torch']}, cuda {data['cuda']}, forced backend {data['forced']}"
    ]
    for name, status in data["backends"].items():
        lines.append(f"  {name:9s} {status}")
    for op, row in data["ops"].items():
        lines.append(f"{op}:")
        for backend, status in row.items():
            lines.append(f"  {backend:9s} {status}")
    return "\n".join(lines)

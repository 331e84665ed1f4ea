"""Software versions and hardware of a run, gathered without importing torch.

Versions come from installed package metadata (``importlib.metadata``), so asking for the torch
version never imports torch. GPU details come from torch only when the caller already imported it
(or passes ``probe_gpu=True``), else from ``nvidia-smi`` when it is on the PATH.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Any

TRACKED_DISTRIBUTIONS: tuple[str, ...] = (
    "numpy",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "datasets",
    "triton",
    "matplotlib",
    "cl-data",
    "cl-kernels",
    "cl-methods",
    "cl-eval",
)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        module = sys.modules.get(distribution.replace("-", "_"))
        version = getattr(module, "__version__", None)
        return None if version is None else str(version)


def software_versions(distributions: Iterable[str] = TRACKED_DISTRIBUTIONS) -> dict[str, str]:
    """``{"python": ..., "numpy": ..., "torch": ..., ...}`` for the distributions that are present.

    Absent packages are left out. When torch is already imported, its CUDA build is added as
    ``"torch_cuda"``.
    """
    from cl_eval import __version__  # the source tree's version, even if an older one is installed

    out = {"python": platform.python_version()}
    for name in distributions:
        version = __version__ if name == "cl-eval" else _version(name)
        if version is not None:
            out[name] = version
    torch = sys.modules.get("torch")
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    if cuda:
        out["torch_cuda"] = str(cuda)
    return out


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return round(pages * page_size / 2**30, 1)


def _gpus_from_torch() -> list[str]:
    import torch  # only when the caller loaded torch or asked for it

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(k) for k in range(torch.cuda.device_count())]


def _gpus_from_nvidia_smi() -> list[str] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def hardware_info(
    extra: Mapping[str, Any] | None = None, *, probe_gpu: bool = False
) -> dict[str, Any]:
    """Host, CPU, memory and GPU facts, updated with ``extra`` from the caller.

    ``extra`` holds what only the caller knows (``global_batch``, ``world_size``, ``precision``,
    ...) and overrides detected values. ``gpu_count`` is ``None`` when it could not be determined.
    """
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpu_available"] = len(os.sched_getaffinity(0))
    gpus: list[str] | None
    if probe_gpu or "torch" in sys.modules:
        gpus = _gpus_from_torch()
    else:
        gpus = _gpus_from_nvidia_smi()
    info["gpu_count"] = None if gpus is None else len(gpus)
    info["gpus"] = gpus
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        info["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    if extra:
        info.update(extra)
    return info

"""Shared timing/memory harness of the weighted-CE and LoRA-linear benchmarks.

Each (shape, implementation) runs in a fresh subprocess so that its peak memory is its own:
on CUDA ``torch.cuda.max_memory_allocated`` above what the inputs hold; on the CPU the rise of
the process's peak resident set (VmHWM, reset through /proc/self/clear_refs after the warm-up so
that compilation does not count) above the resident set once inputs exist and warm-up is done
(includes allocator slack, so differences of a few MB are noise). Time: median of ``reps`` timed
forward+backward steps after ``warmup`` untimed ones (torch.compile compiles in the warm-up).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(step: Callable[[], Any], device: torch.device, warmup: int, reps: int) -> dict:
    """Median seconds per step and peak extra memory (bytes) of ``step``."""
    for _ in range(warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        reset_peak_rss()
        base = rss_bytes()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    peak = (
        torch.cuda.max_memory_allocated() - base
        if device.type == "cuda"
        else peak_rss_bytes() - base
    )
    return {"seconds": statistics.median(times), "all_seconds": times, "peak_bytes": peak}


def environment(device: torch.device) -> dict:
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU: {cpu}",
        "torch": torch.__version__,
        "triton": triton_version,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_worker(script: str, spec: dict, timeout: float = 900) -> dict:
    """Run ``script --worker '<json spec>'`` in a fresh interpreter; returns its JSON line."""
    cmd = [sys.executable, script, "--worker", json.dumps(spec)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout}s"}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {**spec, "error": (out.stderr or out.stdout)[-2000:]}


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path

"""Shared benchmark machinery: timing, peak memory, environment record, results files.

Each ``bench_<op>.py`` builds cases at realistic shapes (scaled down on CPU, the scale written into
the results), and measures every case three ways: the eager PyTorch reference, ``torch.compile`` of
the reference, and the fused public op (Triton on CUDA, C++ on CPU). Results go to
``bench/results/<name>_<device>.json`` with the device name and library versions.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The options every script takes (``nox -s bench -- ARGS`` passes ARGS to all of them);
    ``extra`` adds a script's own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile of the reference (slow)"
    )
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- peak memory


def _rss_peak_kib() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _rss_now_kib() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _mmap_threshold(nbytes: int) -> None:
    """glibc: serve every allocation over ``nbytes`` by its own mmap, returned to the OS on free.
    While a peak is measured the threshold is low, so that the resident set follows the live
    tensors (by default glibc keeps freed blocks resident and reuses them unseen); while timing it
    is high (glibc's own upper bound), so that no variant pays page faults for its temporaries."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, nbytes)  # M_MMAP_THRESHOLD
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


TIMING_MMAP_THRESHOLD = 32 * 2**20
PEAK_MMAP_THRESHOLD = 16 * 2**10
_mmap_threshold(TIMING_MMAP_THRESHOLD)


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def peak_memory_mib(fn: Callable[[], Any], device: torch.device) -> float | None:
    """Extra memory at the peak of one call of ``fn`` over what was held before it, in MiB.
    CUDA: the caching allocator's peak; CPU: the process's peak resident set (Linux only; see
    ``_mmap_threshold``)."""
    gc.collect()
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    _mmap_threshold(PEAK_MMAP_THRESHOLD)
    try:
        if not _reset_rss_peak():
            return None
        before = _rss_now_kib()
        fn()
        peak = _rss_peak_kib()
    finally:
        _mmap_threshold(TIMING_MMAP_THRESHOLD)
    if before is None or peak is None:
        return None
    return max(peak - before, 0) / 1024


# ----------------------------------------------------------------------------- timing


def time_round_robin(
    fns: dict[str, Callable[[], Any]], device: torch.device, min_time: float
) -> dict[str, dict[str, Any]]:
    """Milliseconds per call of every function, measured in turns (one call of each per round)
    so that load from other processes hits all variants alike; rounds continue until
    ``min_time`` seconds have passed (at least 3, at most 100). The minimum is the figure of
    merit on a shared machine; the median is reported too."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    errors: dict[str, str] = {}
    for name, fn in fns.items():  # warm-up (and compilation)
        try:
            fn()
            sync(device)
        except Exception as exc:  # e.g. torch.compile without a working compiler
            errors[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
    live = {name: fn for name, fn in fns.items() if name not in errors}
    start = time.perf_counter()
    rounds = 0
    while live and (rounds < 3 or (time.perf_counter() - start < min_time and rounds < 100)):
        for name, fn in live.items():
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name].append((time.perf_counter() - t0) * 1e3)
        rounds += 1
    out: dict[str, dict[str, Any]] = {}
    for name in fns:
        if name in errors:
            out[name] = {"error": errors[name]}
        else:
            ts = times[name]
            out[name] = {"min_ms": min(ts), "median_ms": statistics.median(ts), "calls": len(ts)}
    return out


# ----------------------------------------------------------------------------- records


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "device": device.type,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    try:
        import triton

        env["triton"] = triton.__version__
    except Exception as exc:
        env["triton"] = f"unavailable ({type(exc).__name__})"
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    else:
        env["device_name"] = _cpu_name()
        env["cpu_count"] = os.cpu_count()
    import cl_kernels

    env["cl_kernels_info"] = cl_kernels.info()
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@dataclass
class Case:
    """One benchmark case: a name, the realistic shape it stands for, and how it was scaled."""

    name: str
    shape: dict[str, Any]
    scale: dict[str, Any] = field(default_factory=dict)
    bytes_moved: int | None = None  # for bandwidth-bound ops: bytes read + written per call


def run_case(
    case: Case,
    variants: dict[str, Callable[[], Any]],
    device: torch.device,
    min_time: float,
) -> dict[str, Any]:
    """Times and peak memory of every variant (a failing variant records its error)."""
    row: dict[str, Any] = {**asdict(case), "variants": time_round_robin(variants, device, min_time)}
    for name, fn in variants.items():
        t = row["variants"][name]
        if "error" in t:
            continue
        t["peak_mib"] = peak_memory_mib(fn, device)
        if case.bytes_moved:
            t["gb_per_s"] = case.bytes_moved / (t["min_ms"] * 1e-3) / 1e9
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    eager = row["variants"].get("eager", {}).get("min_ms")
    for t in row["variants"].values():
        if eager and "min_ms" in t:
            t["speedup_vs_eager"] = eager / t["min_ms"]
    print(_format_row(row), flush=True)
    return row


def _format_row(row: dict[str, Any]) -> str:
    parts = [f"{row['name']}:"]
    for name, t in row["variants"].items():
        if "error" in t:
            parts.append(f"  {name:11s} error {t['error'][:80]}")
            continue
        mem = "n/a" if t.get("peak_mib") is None else f"{t['peak_mib']:.1f} MiB"
        extra = f", {t['gb_per_s']:.1f} GB/s" if "gb_per_s" in t else ""
        parts.append(
            f"  {name:11s} min {t['min_ms']:9.3f} ms (median {t['median_ms']:9.3f})  "
            f"x{t.get('speedup_vs_eager', 1):.2f}  peak {mem}{extra}"
        )
    return "\n".join(parts)


def write_results(
    name: str,
    device: torch.device,
    rows: list[dict[str, Any]],
    out_dir: Path,
    extra: dict[str, Any] | None = None,
):
    """``<out_dir>/<name>_<device type>.json``: the command, date, environment, ``extra`` (e.g.
    the shapes) and the cases."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}_{device.type}.json"
    record = {
        "benchmark": name,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment(device),
        **(extra or {}),
        "cases": rows,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compile`` of a reference function (compiled lazily on first call)."""
    return torch.compile(fn, dynamic=False)

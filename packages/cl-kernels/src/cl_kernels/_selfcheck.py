"""Self-check of the fused backends: each op's probe (small inputs, see ``_probes``) run on a fused
backend and on the PyTorch reference, forward and backward, and compared.

Two users: the dispatcher, which on CUDA probes each (op, backend, device, dtype) at its first call
before trusting the kernel (``probe_backend``), and ``python -m cl_kernels --check``, which probes
every op on every available backend and prints a table (``check``, ``format_table``).

Error measure: for every output and every gradient, ``max |got - want| / max |want|`` (the largest
deviation relative to the tensor's scale; the absolute deviation when ``want`` is all zeros); the
check passes when the forward and backward maxima are within ``TOLERANCE[dtype]``. The tolerances
sit a few units in the last place above what correct kernels show (fused kernels accumulate in
fp32 and round once, the reference rounds each step); a wrong kernel is off by O(1).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import _dispatch

TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 3e-2, torch.float16: 4e-3}
# Cotangent of a scalar output in backward (not 1, so that a backward ignoring it is caught).
SCALAR_COTANGENT = 0.75


@dataclass
class ProbeCase:
    """One call of an op: its arguments (equal on every call of the probe builder)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass
class ProbeResult:
    """One (op, backend, device, dtype) check. ``status``: ``ok``, ``mismatch`` (outside the
    tolerance), ``error`` (an exception, or a non-finite reference), ``skipped`` (backend not
    available here, or declining the probe's arguments: ``detail`` says why)."""

    op: str
    backend: str
    device: str
    dtype: str
    status: str
    forward_error: float | None = None
    backward_error: float | None = None
    tolerance: float | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "error")


@contextlib.contextmanager
def _isolated(device: torch.device) -> Iterator[None]:
    """Grad on, autocast off, outside inference mode; the global RNG streams restored after."""
    devices = [device] if device.type == "cuda" else []
    with (
        torch.random.fork_rng(devices=devices),
        torch.inference_mode(False),
        torch.enable_grad(),
        torch.autocast(device.type, enabled=False),
    ):
        yield


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


def _leaves(args: Sequence[Any], kwargs: dict[str, Any]) -> list[torch.Tensor]:
    found = _tensors(list(args)) + _tensors(list(kwargs.values()))
    seen: set[int] = set()
    out = []
    for t in found:
        if t.requires_grad and t.is_leaf and id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _cotangent(t: torch.Tensor, index: int) -> torch.Tensor:
    if t.dim() == 0:
        return torch.full_like(t, SCALAR_COTANGENT)
    g = torch.Generator().manual_seed(1000 + index)
    return torch.randn(t.shape, generator=g).to(device=t.device, dtype=t.dtype)


def _run(fn: Callable[..., Any], case: ProbeCase) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(outputs, gradients of every leaf that requires grad) of one call, detached. In-place
    ops return the tensors they update, which are the outputs compared."""
    result = fn(*case.args, **case.kwargs)
    outputs = _tensors(result)
    leaves = _leaves(case.args, case.kwargs)
    with_grad = [(i, t) for i, t in enumerate(outputs) if t.requires_grad]
    grads: list[torch.Tensor] = []
    if leaves and with_grad:
        got = torch.autograd.grad(
            [t for _, t in with_grad],
            leaves,
            [_cotangent(t, i) for i, t in with_grad],
            allow_unused=True,
        )
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(got, leaves)]
    return [t.detach() for t in outputs], [g.detach() for g in grads]


def _error(got: torch.Tensor, want: torch.Tensor) -> float:
    if got.shape != want.shape:
        raise _Mismatch(f"shape {tuple(got.shape)} instead of {tuple(want.shape)}")
    if got.dtype != want.dtype:
        raise _Mismatch(f"dtype {got.dtype} instead of {want.dtype}")
    if want.numel() == 0:
        return 0.0
    g, w = got.detach().double().cpu(), want.detach().double().cpu()
    if not bool(torch.isfinite(g).all()):
        return float("inf")
    scale = w.abs().max().item()
    diff = (g - w).abs().max().item()
    return diff / scale if scale > 0 else diff


class _Mismatch(Exception):
    """Outputs that cannot be compared (different count, shape or dtype)."""


def _compare(got: list[torch.Tensor], want: list[torch.Tensor], what: str) -> float:
    if len(got) != len(want):
        raise _Mismatch(f"{len(got)} {what} instead of {len(want)}")
    errors = [0.0]
    for i, (g, w) in enumerate(zip(got, want)):
        try:
            errors.append(_error(g, w))
        except _Mismatch as exc:
            raise _Mismatch(f"{what} {i}: {exc}") from None
    return max(errors)


def _cases(op: _dispatch.Op, dtype: torch.dtype, device: torch.device) -> list[ProbeCase]:
    assert op.probe is not None, f"op {op.name} has no probe"
    return list(op.probe(dtype, device))


def _accepted(op: _dispatch.Op, backend: str, cases: list[ProbeCase]) -> tuple[list[int], str]:
    """Indices of the cases the backend serves, and why it declines the others (C++ only)."""
    if backend != "cpp" or op.cpp_accepts is None:
        return list(range(len(cases))), ""
    keep, why = [], []
    for i, case in enumerate(cases):
        reason = op.cpp_accepts(*case.args, **case.kwargs)
        if reason is None:
            keep.append(i)
        else:
            why.append(f"{case.label}: {reason}" if case.label else reason)
    return keep, "; ".join(why)


def _kind(exc: BaseException) -> str:
    module = type(exc).__module__
    name = type(exc).__name__
    if "Compil" in name or module.startswith("triton.compiler"):
        return "compile error"
    if isinstance(exc, ImportError):
        return "load error"
    return "launch error"


def probe_backend(
    op: _dispatch.Op, backend: str, device: torch.device, dtype: torch.dtype
) -> ProbeResult:
    """Run ``op``'s probe on ``backend`` and on the reference; never raises."""
    tol = TOLERANCE.get(dtype, TOLERANCE[torch.float32])
    row = ProbeResult(op.name, backend, str(device), str(dtype).replace("torch.", ""), "ok")
    row.tolerance = tol
    with _isolated(device):
        try:
            want_cases, got_cases = _cases(op, dtype, device), _cases(op, dtype, device)
            wanted = [_run(op.reference, case) for case in want_cases]
        except Exception as exc:
            row.status, row.detail = "error", f"the probe failed on the reference: {exc!r}"
            return row
        for outs, grads in wanted:
            if not all(bool(torch.isfinite(t).all()) for t in outs + grads):
                row.status, row.detail = "error", "the reference gave non-finite values"
                return row
        if backend == "reference":
            row.tolerance = None
            row.detail = "the ground truth (ran forward and backward, finite)"
            return row
        keep, declined = _accepted(op, backend, got_cases)
        if not keep:
            row.status, row.detail = "skipped", f"declines the probe ({declined})"
            return row
        fwd, bwd, n_grads = 0.0, 0.0, 0
        try:
            fn = _dispatch.load_backend(op, backend)
            for i in keep:
                outs, grads = _run(fn, got_cases[i])
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                fwd = max(fwd, _compare(outs, wanted[i][0], "outputs"))
                bwd = max(bwd, _compare(grads, wanted[i][1], "gradients"))
                n_grads += len(grads)
        except _Mismatch as exc:
            row.status, row.detail = "mismatch", str(exc)
            return row
        except Exception as exc:
            row.status = "error"
            row.detail = f"{_kind(exc)}: {type(exc).__name__}: {str(exc)[:500]}"
            return row
    row.forward_error, row.backward_error = fwd, (bwd if n_grads else None)
    if fwd > tol or bwd > tol:
        row.status = "mismatch"
        row.detail = f"max error forward {fwd:.2e}, backward {bwd:.2e} > tolerance {tol:.0e}"
    elif declined:
        row.detail = f"declined: {declined}"
    return row


def check(
    ops: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    dtypes: Sequence[torch.dtype] | None = None,
    device: torch.device | None = None,
) -> list[ProbeResult]:
    """Probe every (op, backend, dtype) here: the C++ backend on the CPU, the reference and Triton
    on ``device`` (default: CUDA when present, else the CPU, where Triton runs only under
    ``TRITON_INTERPRET=1``). Unavailable backends give ``skipped`` rows saying why."""
    registered = _dispatch.registered_ops()
    names = sorted(registered) if ops is None else list(ops)
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise ValueError(f"unknown op(s) {unknown}; registered: {sorted(registered)}")
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for name in names:
        op = registered[name]
        for backend in backends or _dispatch.BACKENDS:
            dev = torch.device("cpu") if backend == "cpp" else device
            ok, reason = _dispatch.op_status(op, backend, dev)
            for dtype in op.probe_dtypes:
                if dtypes is not None and dtype not in dtypes:
                    continue
                if not ok:
                    short = str(dtype).replace("torch.", "")
                    rows.append(
                        ProbeResult(name, backend, str(dev), short, "skipped", detail=reason)
                    )
                    continue
                rows.append(probe_backend(op, backend, dev, dtype))
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


NOTE_CHARS = 110


def _collapsed(rows: Sequence[ProbeResult]) -> list[ProbeResult]:
    """Rows of a backend that is unavailable for an op in every dtype merged into one (dtype
    "all"), so that the table lists each reason once per op."""
    out: list[ProbeResult] = []
    for r in rows:
        prev = out[-1] if out else None
        unavailable = r.status == "skipped" and not r.detail.startswith("declines")
        if (
            unavailable
            and prev is not None
            and (prev.op, prev.backend, prev.status, prev.detail)
            == (r.op, r.backend, r.status, r.detail)
        ):
            prev.dtype = "all"
            continue
        out.append(ProbeResult(**{**r.__dict__}))
    return out


def format_table(rows: Sequence[ProbeResult]) -> str:
    """The check's table (one line per op, backend and dtype; long reasons cut, the JSON output
    has them in full), then the verdict."""
    header = ("op", "backend", "device", "dtype", "fwd err", "bwd err", "tol", "result")
    lines = []
    for r in _collapsed(rows):
        if r.status == "ok":
            result = "ok (reference)" if r.backend == "reference" else "ok"
        else:
            result = r.status if r.status == "skipped" else r.status.upper()
        show = r.detail and (r.status != "ok" or r.detail.startswith("declined"))
        note = r.detail if show else ""
        if len(note) > NOTE_CHARS:
            note = note[: NOTE_CHARS - 3] + "..."
        fields = (r.op, r.backend, r.device, r.dtype, _fmt(r.forward_error))
        fields += (_fmt(r.backward_error), _fmt(r.tolerance), result)
        lines.append((fields, note))
    widths = [max([len(h)] + [len(f[i]) for f, _ in lines]) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    for fields, note in lines:
        row = "  ".join(f.ljust(w) for f, w in zip(fields, widths))
        out.append(f"{row}  {note}".rstrip())
    out.append(verdict(rows))
    return "\n".join(out)


def verdict(rows: Sequence[ProbeResult]) -> str:
    failed = [r for r in rows if r.failed]
    ran = sum(r.status == "ok" for r in rows)
    skipped = sum(r.status == "skipped" for r in rows)
    if failed:
        names = sorted({f"{r.op}/{r.backend}/{r.dtype}" for r in failed})
        return f"FAIL: {len(failed)} of {ran + len(failed)} checks failed ({', '.join(names)})"
    return f"PASS: {ran} checks ok, {skipped} skipped (backend not available here, or declined)"

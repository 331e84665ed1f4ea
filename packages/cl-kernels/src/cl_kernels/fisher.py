"""Public entry points of the Fisher/EWC ops over a list of tensors.

``fisher_accumulate`` (in place ``F_i += c g_i^2``), ``fisher_merge`` (in place
``F_old <- (F_new + t F_old)/(t+1)``) and ``ewc_penalty`` (``lam/2 sum_i F_i (theta_i -
theta*_i)^2`` with its gradient to ``theta``). The fused backends launch once per dtype group.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _probes, reference
from ._dispatch import Op, device_of, dispatch, register_op


def _check(name: str, columns: dict[str, Sequence[torch.Tensor | None]], optional=()) -> None:
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{name}: the lists differ in length: {lengths}")
    devices = set()
    for i, row in enumerate(zip(*columns.values())):
        shapes = {}
        for key, t in zip(columns, row):
            if t is None:
                if key in optional:
                    continue
                raise ValueError(f"{name}: {key}[{i}] is None")
            if not isinstance(t, torch.Tensor):
                raise ValueError(f"{name}: {key}[{i}] is a {type(t).__name__}, not a tensor")
            shapes[key] = tuple(t.shape)
            devices.add(t.device)
        if len(set(shapes.values())) > 1:
            raise ValueError(f"{name}: tensors {i} differ in shape: {shapes}")
    if len(devices) > 1:
        found = sorted(map(str, devices))
        raise ValueError(f"{name}: all tensors must be on one device, got {found}")


def fisher_accumulate(
    fishers: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None], c: float = 1.0
) -> Sequence[torch.Tensor]:
    """In place ``F_i += c * g_i**2`` for every pair (a None gradient leaves its ``F_i``
    unchanged, so ``[p.grad for p in params]`` can be passed directly); returns ``fishers``."""
    fishers, grads = list(fishers), list(grads)
    _check("fisher_accumulate", {"fishers": fishers, "grads": grads}, optional=("grads",))
    dispatch("fisher_accumulate", device_of(fishers), fishers, grads, float(c))
    return fishers


def fisher_merge(
    f_new: Sequence[torch.Tensor], f_old: Sequence[torch.Tensor], t: float
) -> Sequence[torch.Tensor]:
    """In place ``F_old <- (F_new + t * F_old) / (t + 1)`` (EWC's running merge after task
    ``t``); returns ``f_old``."""
    f_new, f_old = list(f_new), list(f_old)
    _check("fisher_merge", {"f_new": f_new, "f_old": f_old})
    if t <= -1:
        raise ValueError(f"fisher_merge: t must be > -1, got {t}")
    dispatch("fisher_merge", device_of(f_old), f_new, f_old, float(t))
    return f_old


def ewc_penalty(
    params: Sequence[torch.Tensor],
    anchors: Sequence[torch.Tensor],
    fishers: Sequence[torch.Tensor],
    lam: float,
) -> torch.Tensor:
    """``lam / 2 * sum_i sum F_i * (theta_i - theta*_i)**2`` as a float32 scalar; the gradient
    goes to ``params`` (anchors and Fishers are constants)."""
    params, anchors, fishers = list(params), list(anchors), list(fishers)
    _check("ewc_penalty", {"params": params, "anchors": anchors, "fishers": fishers})
    return dispatch("ewc_penalty", device_of(params), params, anchors, fishers, float(lam))


def _cpp_accepts(*columns: object) -> str | None:
    """None when every tensor is a contiguous float32 CPU tensor (what the C++ kernels take)."""
    for column in columns:
        if not isinstance(column, list | tuple):
            continue
        for t in column:
            if t is None:
                continue
            if t.dtype != torch.float32:
                return f"the C++ Fisher/EWC kernels take float32, got {t.dtype}"
            if not t.is_contiguous() or t.device.type != "cpu":
                return "the C++ Fisher/EWC kernels take contiguous CPU tensors"
    return None


# fisher_accumulate has no C++ version: the reference is one in-place ``addcmul_`` per tensor,
# already a single pass over memory, and the C++ kernel measured 1.0-1.3x of it on one core
# (bench/results/fisher_cpu.json), short of the 1.5x that would justify it.
register_op(
    Op(
        "fisher_accumulate",
        reference.fisher_accumulate,
        triton="fisher:fisher_accumulate",
        no_cpp_reason=(
            "the reference (one in-place addcmul_ per tensor) is already a single pass over "
            "memory; a C++ kernel measured 1.0-1.3x of it on CPU (bench/results/fisher_cpu.json)"
        ),
        probe=_probes.fisher_accumulate,
    )
)
for _name in ("fisher_merge", "ewc_penalty"):
    register_op(
        Op(
            _name,
            getattr(reference, _name),
            triton=f"fisher:{_name}",
            cpp=f"fisher:{_name}",
            cpp_extension="fisher",
            cpp_accepts=_cpp_accepts,
            cpp_note="float32 contiguous tensors only (others use the reference)",
            probe=getattr(_probes, _name),
        )
    )

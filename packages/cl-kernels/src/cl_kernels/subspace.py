"""Public entry points of the subspace penalties over many layers in one call.

O-LoRA: ``orthogonality_penalty`` (entry-wise L1, or squared, of ``A_old_l @ A_new_l^T``) and
``l2_penalty`` (un-squared Frobenius norms summed). N-LoRA: ``nlora_penalty`` (L1 of ``A_l @ B_l``
or of ``delta W_l = B_l @ A_l``, the latter never materialised by the fused kernels).
All return a float32 scalar; see ``cl_kernels.reference.subspace`` for the exact definitions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _probes, reference
from ._dispatch import Op, device_of, dispatch, register_op

NORMS = ("l1", "l2sq")
NLORA_MODES = ("ab", "delta_w")


def _as_list(tensors: Sequence[torch.Tensor], name: str) -> list[torch.Tensor]:
    if isinstance(tensors, torch.Tensor):
        raise TypeError(f"{name} must be a sequence of tensors (one per layer), got one tensor")
    out = list(tensors)
    for i, t in enumerate(out):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name}[{i}] must be a 2-D tensor, got {got}")
    return out


def _same_device(*groups: list[torch.Tensor]) -> None:
    devices = {t.device for group in groups for t in group}
    if len(devices) > 1:
        raise ValueError(f"all tensors must be on one device, got {sorted(map(str, devices))}")


def orthogonality_penalty(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    """``sum_l sum_ij |(A_old_l @ A_new_l^T)_ij|`` (``norm="l1"``) or its squares (``"l2sq"``).

    ``A_old_l [r_old_l x d_l]`` (frozen: no gradient flows to it), ``A_new_l [r_l x d_l]``.
    Layers whose ``A_old`` has zero rows (task 1) contribute exactly 0; an empty list gives 0.
    """
    if norm not in NORMS:
        raise ValueError(f"orthogonality_penalty: norm must be one of {NORMS}, got {norm!r}")
    a_old, a_new = _as_list(a_old, "a_old"), _as_list(a_new, "a_new")
    if len(a_old) != len(a_new):
        raise ValueError(f"a_old has {len(a_old)} layers but a_new has {len(a_new)}")
    for i, (old, new) in enumerate(zip(a_old, a_new)):
        if old.shape[1] != new.shape[1]:
            raise ValueError(
                f"layer {i}: a_old {tuple(old.shape)} and a_new {tuple(new.shape)} differ in d_in"
            )
    _same_device(a_old, a_new)
    return dispatch("orthogonality_penalty", device_of(a_new), a_old, a_new, norm)


def l2_penalty(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """``sum_P ||P||_F``: the un-squared Frobenius norm of every tensor, summed (O-LoRA's L2).
    The gradient of a tensor whose norm is 0 is 0."""
    params = list(params)
    if isinstance(params, torch.Tensor):
        raise TypeError("l2_penalty takes a sequence of tensors")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise ValueError(f"params[{i}] is a {type(p).__name__}, not a tensor")
    _same_device(params)
    return dispatch("l2_penalty", device_of(params), params)


def nlora_penalty(
    a_list: Sequence[torch.Tensor], b_list: Sequence[torch.Tensor], mode: str = "ab"
) -> torch.Tensor:
    """N-LoRA: ``sum_l ||A_l @ B_l||_1`` (``mode="ab"``, the released ``r x r`` form, needs
    ``d_in == d_out``) or ``sum_l ||B_l @ A_l||_1`` (``"delta_w"``, the paper's ``delta W``),
    with ``A_l [r x d_in]`` and ``B_l [d_out x r]``; gradients to both."""
    if mode not in NLORA_MODES:
        raise ValueError(f"nlora_penalty: mode must be one of {NLORA_MODES}, got {mode!r}")
    a_list, b_list = _as_list(a_list, "a_list"), _as_list(b_list, "b_list")
    if len(a_list) != len(b_list):
        raise ValueError(f"a_list has {len(a_list)} layers but b_list has {len(b_list)}")
    for i, (a, b) in enumerate(zip(a_list, b_list)):
        if a.shape[0] != b.shape[1]:
            raise ValueError(
                f"layer {i}: A {tuple(a.shape)} must be [r x d_in] and B {tuple(b.shape)} "
                "[d_out x r] with the same r"
            )
        if mode == "ab" and a.shape[1] != b.shape[0]:
            raise ValueError(
                f"layer {i}: nlora mode 'ab' computes A @ B, which needs d_in == d_out, got "
                f"A {tuple(a.shape)} and B {tuple(b.shape)}; use mode='delta_w' for non-square "
                "layers"
            )
    _same_device(a_list, b_list)
    return dispatch("nlora_penalty", device_of(a_list), a_list, b_list, mode)


# Measured on one core of a shared Xeon, bench/results/subspace_cpu.json: the C++ mode "ab"
# (r x r products; the reference makes two small BLAS calls per layer) ran at 0.5-0.95x of the
# reference, so the dispatcher keeps "ab" on the reference; "delta_w" ran 1.9-5.6x faster.
NLORA_AB_CPP = (
    "mode 'ab' uses the reference on CPU (the C++ r x r kernel measured 0.5-0.95x of it, "
    "bench/results/subspace_cpu.json)"
)


def _nlora_cpp_accepts(a_list, b_list, mode="ab") -> str | None:
    return NLORA_AB_CPP if mode == "ab" else None


for _name in ("orthogonality_penalty", "l2_penalty", "nlora_penalty"):
    nlora = _name == "nlora_penalty"
    register_op(
        Op(
            _name,
            getattr(reference, _name),
            triton=f"subspace:{_name}",
            cpp=f"subspace:{_name}",
            cpp_extension="subspace",
            cpp_accepts=_nlora_cpp_accepts if nlora else None,
            cpp_note=NLORA_AB_CPP if nlora else "",
            probe=getattr(_probes, _name),
        )
    )

"""Public entry point of the stacked LoRA linear (op 4).

    y = x W^T + b + s * (drop(x) A_old^T) B_old^T + s * (drop(x) A_new^T) B_new^T

with ONE dropout mask shared by the frozen old stack (rank r_sum, possibly 0) and the trainable
new adapter (spec olora-nlora.md §1). Gradients go only where the inputs require them.

Backends: Triton on CUDA (one two-segment GEMM launch for base + adapter, see
``cl_kernels.triton.lora_linear``); on CPU the PyTorch reference (there is no C++ kernel: the op
is GEMM-bound and torch's BLAS already runs the GEMMs, see ``NO_CPP_REASON``).

Dropout: with ``generator`` the keep mask is drawn as ``bernoulli(1 - p)`` from it on every
backend (so they agree); without one the reference calls ``F.dropout`` (bit-identical to the
earlier ``StackedLoRALinear`` code) and Triton draws from the global RNG.
"""

from __future__ import annotations

import torch

from . import _probes, reference
from ._dispatch import Op, device_of, dispatch, register_op
from .reference.lora_linear import check_lora_shapes

NO_CPP_REASON = (
    "GEMM-bound: on the CPU (bench/results/lora_linear_cpu.json, fp32, 1 thread) the base GEMM "
    "alone (forward + input gradient) takes 48% (T5-large, d=1024, r_sum 112+8) and 74% "
    "(LLaMA-7B, d=4096) of the eager op and the adapter GEMMs add 24% / 3% of the base flops, so "
    "a C++ kernel would reach at most 1.7x / 1.3x even with every GEMM at BLAS speed and all "
    "other work removed; hand-written C++ GEMMs (no libtorch, no BLAS) fall short of BLAS on "
    "the base GEMM, losing more than fusion saves. Not attempted: torch's BLAS runs the GEMMs"
)


def lora_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    a_old: torch.Tensor,
    b_old: torch.Tensor,
    a_new: torch.Tensor,
    b_new: torch.Tensor,
    scale: float,
    dropout_p: float = 0.0,
    training: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``x W^T + b + s * (drop(x) [A_old; A_new]^T) [B_old, B_new]^T``; x (..., d_in),
    weight (d_out, d_in), a_* (r, d_in), b_* (d_out, r); adapters are cast to x's dtype."""
    check_lora_shapes(x, weight, a_old, b_old, a_new, b_new, dropout_p)
    return dispatch(
        "lora_linear",
        device_of(x),
        x,
        weight,
        bias,
        a_old,
        b_old,
        a_new,
        b_new,
        float(scale),
        float(dropout_p),
        bool(training),
        generator,
    )


def _compute_dtype(x: torch.Tensor, *args: object, **kwargs: object) -> torch.dtype:
    """The dtype the kernel computes in: the autocast dtype when autocast is on for x's device
    (as ``F.linear`` does), else x's."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


register_op(
    Op(
        "lora_linear",
        reference.lora_linear,
        triton="lora_linear:lora_linear",
        no_cpp_reason=NO_CPP_REASON,
        probe=_probes.lora_linear,
        compute_dtype=_compute_dtype,
    )
)

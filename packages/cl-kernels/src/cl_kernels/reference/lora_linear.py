"""Reference stacked LoRA linear, plain PyTorch (the unfused three-matmul form).

    y = x W^T + b + s * (drop(x) A_old^T) B_old^T + s * (drop(x) A_new^T) B_new^T

``A_old [r_sum, d_in]`` / ``B_old [d_out, r_sum]`` are earlier tasks' adapters stacked on the rank
axis (r_sum may be 0), ``A_new [r, d_in]`` / ``B_new [d_out, r]`` the current one. ONE dropout mask
is drawn per call and feeds both branches (spec olora-nlora.md §1). Adapter matrices are cast to
x's dtype. Gradients flow wherever the inputs require them (autograd decides).

Dropout: without ``generator`` this calls ``F.dropout`` (the global RNG, bit-identical to the
earlier ``cl_methods.adapters.stacked_lora`` code); with a ``generator`` it draws the keep mask as
``bernoulli(1 - p)`` from that generator, which is how the fused kernels draw it too, so the two
can be compared with the same seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dropout_keep_mask(
    x: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Boolean keep mask of x's shape, drawn as ``bernoulli(1 - p)`` from ``generator``."""
    keep = torch.empty(x.shape, device=x.device, dtype=torch.float32)
    return keep.bernoulli_(1.0 - p, generator=generator).bool()


def check_lora_shapes(
    x: torch.Tensor,
    weight: torch.Tensor,
    a_old: torch.Tensor,
    b_old: torch.Tensor,
    a_new: torch.Tensor,
    b_new: torch.Tensor,
    dropout_p: float,
) -> None:
    d_out, d_in = weight.shape
    if x.shape[-1] != d_in:
        raise ValueError(f"x has {x.shape[-1]} features, weight expects d_in={d_in}")
    for name, a, b in (("old", a_old, b_old), ("new", a_new, b_new)):
        if a.dim() != 2 or b.dim() != 2 or a.shape[1] != d_in or b.shape[0] != d_out:
            raise ValueError(
                f"a_{name}{tuple(a.shape)} / b_{name}{tuple(b.shape)} do not fit "
                f"Linear({d_in} -> {d_out}); expected A [r, {d_in}] and B [{d_out}, r]"
            )
        if a.shape[0] != b.shape[1]:
            raise ValueError(f"a_{name}{tuple(a.shape)} and b_{name}{tuple(b.shape)} ranks differ")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")


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
    """``x W^T + b + s * (drop(x) A_old^T) B_old^T + s * (drop(x) A_new^T) B_new^T``."""
    check_lora_shapes(x, weight, a_old, b_old, a_new, b_new, dropout_p)
    y = F.linear(x, weight, bias)
    if dropout_p > 0 and training:
        if generator is None:
            xd = F.dropout(x, dropout_p, True)
        else:
            xd = x * dropout_keep_mask(x, dropout_p, generator).to(x.dtype) / (1.0 - dropout_p)
    else:
        xd = x
    delta = F.linear(F.linear(xd, a_new.to(x.dtype)), b_new.to(x.dtype))
    if a_old.shape[0] > 0:
        delta = delta + F.linear(F.linear(xd, a_old.to(x.dtype)), b_old.to(x.dtype))
    return y + scale * delta

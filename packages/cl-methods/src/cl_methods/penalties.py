"""Parameter-only penalties used by the methods: thin entry points over cl-kernels' fused ops
(Triton on CUDA, C++ on CPU, PyTorch reference otherwise; ``python -m cl_kernels`` says which).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

import cl_kernels


def orthogonality(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    """O-LoRA: ``sum_l sum_ij |(A_old_l @ A_new_l^T)_ij|`` (``"l1"``) or its squares (``"l2sq"``),
    a float32 scalar with gradient to ``A_new`` only, over all layers in one call.

    ``A_old_l`` may have zero rows (task 1), which contributes exactly 0.
    """
    return cl_kernels.orthogonality_penalty(a_old, a_new, norm)


def frobenius_sum(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of un-squared Frobenius norms ``sum_P ||P||_F`` (O-LoRA's L2 term), float32."""
    return cl_kernels.l2_penalty(params)


NLORA_MODES = ("ab", "delta_w")


def nlora_penalty(
    a_list: Sequence[torch.Tensor], b_list: Sequence[torch.Tensor], mode: str = "ab"
) -> torch.Tensor:
    """N-LoRA: ``sum_l ||P_l||_1`` (entry-wise L1) over the adapted layers.

    ``a_list[l]`` is the current task's ``A [r, d_in]`` and ``b_list[l]`` its ``B [d_out, r]``.

    - ``mode="ab"`` (the released code): ``P = A @ B``, the product of the stored weight matrices,
      an ``r x r`` matrix that only type-checks when ``d_in == d_out``. A non-square layer raises
      ``ValueError`` naming the layer index and shapes (use ``"delta_w"`` there).
    - ``mode="delta_w"`` (the paper's text): ``P = B @ A = delta W`` (``d_out x d_in``, the LoRA
      scale left out as in the reference). Each layer's product is recomputed in backward
      instead of being kept for it (cl-kernels computes it tile by tile or recomputes it).
    """
    if mode not in NLORA_MODES:
        raise ValueError(f"nlora_penalty mode must be one of {NLORA_MODES}, got {mode!r}")
    if mode == "ab":  # the method's own hint; cl-kernels checks the other shapes
        for index, (a, b) in enumerate(zip(a_list, b_list)):
            if a.dim() == 2 and b.dim() == 2 and a.shape[1] != b.shape[0]:
                raise ValueError(
                    f"nlora_penalty layer {index}: mode 'ab' multiplies A{tuple(a.shape)} by "
                    f"B{tuple(b.shape)}, which needs a square layer (d_in {a.shape[1]} != d_out "
                    f"{b.shape[0]}, e.g. GQA k/v projections); use mode 'delta_w' "
                    f"(--nlora-target delta_w), the L1 of delta W = B A"
                )
    return cl_kernels.nlora_penalty(a_list, b_list, mode)

"""cl-kernels: fused ops for continual learning (Triton on CUDA, C++ on CPU, PyTorch reference).

Public ops (each dispatches by device and availability; see ``_dispatch``):

- subspace penalties: ``orthogonality_penalty``, ``l2_penalty``, ``nlora_penalty``
- Fisher / EWC: ``fisher_accumulate``, ``fisher_merge``, ``ewc_penalty``
- token-weighted cross-entropy (TAALM's L_w): ``weighted_cross_entropy`` (fused with the LM head,
  chunked, no full logits) and ``weighted_cross_entropy_from_logits``
- stacked LoRA linear: ``lora_linear``

``CL_KERNELS_BACKEND=reference|triton|cpp`` or ``with use_backend(name):`` forces a backend;
``info()`` (or ``python -m cl_kernels``) reports what is available and why not.
``python -m cl_kernels --check`` compares every op on every available backend with the reference;
on CUDA the same probe runs at the first call of each op and dtype before the kernel is trusted
(``CL_KERNELS_SELF_CHECK=0`` skips it; see ``_dispatch``).
"""

from ._dispatch import BACKENDS, format_info, info, use_backend
from .fisher import ewc_penalty, fisher_accumulate, fisher_merge
from .lora_linear import lora_linear
from .subspace import l2_penalty, nlora_penalty, orthogonality_penalty
from .weighted_ce import weighted_cross_entropy, weighted_cross_entropy_from_logits

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "ewc_penalty",
    "fisher_accumulate",
    "fisher_merge",
    "format_info",
    "info",
    "l2_penalty",
    "lora_linear",
    "nlora_penalty",
    "orthogonality_penalty",
    "use_backend",
    "weighted_cross_entropy",
    "weighted_cross_entropy_from_logits",
]

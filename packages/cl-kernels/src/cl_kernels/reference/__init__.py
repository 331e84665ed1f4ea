"""PyTorch references: the plain-loop twin of every fused op, the ground truth of the parity tests
and the fallback wherever a fused backend cannot run. Inputs are assumed validated by the public
entry point in ``cl_kernels``."""

from .fisher import ewc_penalty, fisher_accumulate, fisher_merge
from .lora_linear import lora_linear
from .subspace import l2_penalty, nlora_penalty, orthogonality_penalty
from .weighted_ce import weighted_cross_entropy, weighted_cross_entropy_from_logits

__all__ = [
    "ewc_penalty",
    "fisher_accumulate",
    "fisher_merge",
    "l2_penalty",
    "lora_linear",
    "nlora_penalty",
    "orthogonality_penalty",
    "weighted_cross_entropy",
    "weighted_cross_entropy_from_logits",
]

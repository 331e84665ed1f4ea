"""PyTorch reference twins of every fused op (the parity targets of the kernels)."""

from .lora_linear import lora_linear
from .weighted_ce import weighted_cross_entropy, weighted_cross_entropy_from_logits

__all__ = ["lora_linear", "weighted_cross_entropy", "weighted_cross_entropy_from_logits"]

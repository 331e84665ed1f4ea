"""Recurrent-KIF: importance (importance.py), fusion (fusion.py), the method (method.py)."""

from .config import KIFConfig
from .fusion import FusionTable, fuse
from .importance import ImportanceState, importance_masks, quantile_threshold, sensitivity
from .method import RecurrentKIF, lora_parameters

__all__ = [
    "FusionTable",
    "ImportanceState",
    "KIFConfig",
    "RecurrentKIF",
    "fuse",
    "importance_masks",
    "lora_parameters",
    "quantile_threshold",
    "sensitivity",
]

"""Recurrent-KIF: importance (importance.py), fusion (fusion.py), the method (method.py)."""

# Load cl_methods.methods first: it registers the built-in methods (this one included) and the
# config's base class lives there; importing a submodule of this package first would otherwise
# enter that package half-way through this one.
from .. import methods as _methods  # noqa: F401  isort: skip

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

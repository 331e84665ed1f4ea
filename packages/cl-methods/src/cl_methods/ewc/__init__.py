"""EWC: Fisher estimates, the running merge, the quadratic penalty, and a mixin for methods."""

from .fisher import empirical_fisher
from .mixin import EWCMixin, EWCOptions
from .ops import ewc_penalty, fisher_accumulate, fisher_merge

__all__ = [
    "EWCMixin",
    "EWCOptions",
    "empirical_fisher",
    "ewc_penalty",
    "fisher_accumulate",
    "fisher_merge",
]

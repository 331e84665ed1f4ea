"""EWC: Fisher estimates, the running merge and the quadratic penalty."""

from .fisher import empirical_fisher
from .ops import ewc_penalty, fisher_accumulate, fisher_merge

__all__ = ["empirical_fisher", "ewc_penalty", "fisher_accumulate", "fisher_merge"]

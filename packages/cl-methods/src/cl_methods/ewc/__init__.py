"""EWC: Fisher estimates, the running merge, the quadratic penalty, and the component methods
hold (``EWCRegularizer``)."""

from .fisher import empirical_fisher
from .ops import ewc_penalty, fisher_accumulate, fisher_merge
from .regularizer import EWCOptions, EWCRegularizer, batch_loss_fn

__all__ = [
    "EWCOptions",
    "EWCRegularizer",
    "batch_loss_fn",
    "empirical_fisher",
    "ewc_penalty",
    "fisher_accumulate",
    "fisher_merge",
]

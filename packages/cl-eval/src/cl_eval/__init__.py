"""cl-eval: exact match, accuracy matrices, continual-learning metrics and reports.

Importing this package never imports torch.
"""

__version__ = "0.1.0"

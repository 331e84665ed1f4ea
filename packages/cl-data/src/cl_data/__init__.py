"""cl-data: continual-learning benchmarks, task streams, prompts and tokenised batches."""

__version__ = "0.1.0"

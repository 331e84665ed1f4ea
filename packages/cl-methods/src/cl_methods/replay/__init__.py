"""Replay: class-balanced and ratio buffers of raw examples, random or herding selection,
batch-level or dataset-level mixing, a component any method can hold (``Replay``)."""

from .buffer import ClassBalancedBuffer, RatioBuffer, ReplayBuffer
from .component import Replay, ReplayOptions, field_of
from .features import last_token_features
from .mixing import concat_batches, dataset_with_buffer, mix_examples
from .selection import first_per_class, herding_select

__all__ = [
    "ClassBalancedBuffer",
    "RatioBuffer",
    "Replay",
    "ReplayBuffer",
    "ReplayOptions",
    "concat_batches",
    "dataset_with_buffer",
    "field_of",
    "first_per_class",
    "herding_select",
    "last_token_features",
    "mix_examples",
]

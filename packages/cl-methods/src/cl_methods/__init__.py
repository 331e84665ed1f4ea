"""cl-methods: adapters, regularisers, methods and the continual trainer.

Never imports cl-data or cl-eval: the trainer takes any iterable of tasks and any evaluation
callable.
"""

from .method import Method, MethodConfig, StepInfo, TaskContext
from .registry import (
    available_methods,
    build_method,
    config_from_dict,
    get_method_class,
    parse_bool,
    register_method,
)

__version__ = "0.1.0"

__all__ = [
    "Method",
    "MethodConfig",
    "StepInfo",
    "TaskContext",
    "available_methods",
    "build_method",
    "config_from_dict",
    "get_method_class",
    "parse_bool",
    "register_method",
]

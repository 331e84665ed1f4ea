"""cl-methods: adapters, regularisers, methods and the continual trainer.

Never imports cl-data or cl-eval: the trainer takes any iterable of tasks and any evaluation
callable.
"""

from .evaluation import GenerationEvaluator
from .method import Method, MethodConfig, RunInfo, StepInfo, TaskAwareModel, TaskContext
from .registry import (
    available_methods,
    build_method,
    get_method_class,
    register_method,
)
from .trainer import (
    ContinualResult,
    ContinualTrainer,
    DivergedError,
    TaskScore,
    TrainerCallback,
    TrainerConfig,
    TrainerView,
    TrainTask,
)

__version__ = "0.1.0"

__all__ = [
    "ContinualResult",
    "ContinualTrainer",
    "DivergedError",
    "GenerationEvaluator",
    "Method",
    "MethodConfig",
    "RunInfo",
    "StepInfo",
    "TaskAwareModel",
    "TaskContext",
    "TaskScore",
    "TrainTask",
    "TrainerCallback",
    "TrainerConfig",
    "TrainerView",
    "available_methods",
    "build_method",
    "get_method_class",
    "register_method",
]

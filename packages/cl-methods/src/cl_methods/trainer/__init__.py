"""The continual trainer and its pieces."""

from .callbacks import TrainerCallback, TrainerView
from .checkpoint import DivergedError
from .config import TrainerConfig
from .results import ContinualResult, TaskScore
from .tasks import TrainTask
from .trainer import ContinualTrainer

__all__ = [
    "ContinualResult",
    "ContinualTrainer",
    "DivergedError",
    "TaskScore",
    "TrainTask",
    "TrainerCallback",
    "TrainerConfig",
    "TrainerView",
]

"""The continual trainer and its pieces."""

from .callbacks import TrainerCallback, TrainerView
from .config import TrainerConfig
from .results import ContinualResult, TaskScore
from .tasks import TrainTask
from .trainer import ContinualTrainer, DivergedError

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

"""The continual trainer and its pieces."""

from .config import TrainerConfig
from .results import ContinualResult, TaskScore
from .trainer import ContinualTrainer, TrainTask

__all__ = ["ContinualResult", "ContinualTrainer", "TaskScore", "TrainTask", "TrainerConfig"]

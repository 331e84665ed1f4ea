"""Analyses of trained adapters (task-update overlap and parameter collision)."""

from .plot import plot_task_updates
from .task_updates import (
    PAIR_MEASURES,
    TASK_MEASURES,
    TaskUpdate,
    analyse_task_updates,
    distribution,
    layer_task_updates,
    pair_measures,
    task_measures,
)

__all__ = [
    "PAIR_MEASURES",
    "TASK_MEASURES",
    "TaskUpdate",
    "analyse_task_updates",
    "distribution",
    "layer_task_updates",
    "pair_measures",
    "plot_task_updates",
    "task_measures",
]

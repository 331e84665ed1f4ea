"""Argument lists of quick app runs shared by more than one test folder."""

from __future__ import annotations

#: Recurrent-KIF's smoke preset cut down: 3 tasks, 24 training and 4 test examples, 2 epochs
QUICK_KIF: tuple[str, ...] = (
    *("--preset", "smoke", "--max-train-samples", "24", "--max-test-samples", "4"),
    *("--epochs", "2", "--per-device-batch", "4", "--log-with", "none"),
    *("--no-progress", "--no-plot"),
)

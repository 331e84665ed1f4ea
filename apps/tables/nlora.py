"""N-LoRA's published hyperparameters (spec olora-nlora.md section 3), as per-task values.

T5-large: 1 GPU, gradient accumulation 1 (the per-device batch is the global batch), 10 epochs per
task, AdamW with a constant learning rate:

| order | batch | lr   | lambda_1                           |
|-------|-------|------|------------------------------------|
| 1     | 48    | 1e-3 | 0.4                                |
| 2, 3  | 32    | 1e-3 | 0.4                                |
| 4     | 32    | 5e-4 | per task (ORDER4_LAMBDAS)          |
| 5     | 32    | 8e-4 | 0.55                               |
| 6     | 32    | 1e-3 | 1.8                                |

LLaMA (orders 1-3), per-task (lr, epochs) in task order and one lambda_1:
order 1, batch 48: 1e-3/1, 1e-4/10, 1e-4/1, 1e-4/1, lambda_1 0.46;
order 2, batch 32: 1e-4/1, 5e-5/5, 5e-5/1, 5e-5/1, lambda_1 0.38;
order 3, batch 32: 1e-4/5, 1e-4/10, 1e-4/1, 1e-4/1, lambda_1 0.4.
LLaMA orders 4-6 have no released N-LoRA schedule: this recipe uses the T5 row of that order
(batch, lr, lambda_1, 10 epochs); ``results.json`` (``config``) records the values used. The
LLaMA per-device batch is not published; 4 is used (global batch = 4 x accumulation x GPUs).
"""

from __future__ import annotations

from typing import Any

from common.config import ConfigError

T5_EPOCHS = 10

# order -> (global batch, lr, lambda_1 or None for the per-task table)
T5_TABLE: dict[int, tuple[int, float, float | None]] = {
    1: (48, 1e-3, 0.4),
    2: (32, 1e-3, 0.4),
    3: (32, 1e-3, 0.4),
    4: (32, 5e-4, None),
    5: (32, 8e-4, 0.55),
    6: (32, 1e-3, 1.8),
}
ORDER4_LAMBDAS: dict[str, float] = {
    "MNLI": 0.4,
    "CB": 0.4,
    "WiC": 1.2,
    "COPA": 0.4,
    "QQP": 0.4,
    "BoolQA": 0.4,
    "RTE": 1.2,
    "IMDB": 1.2,
    "yelp": 1.2,
    "amazon": 0.4,
    "SST-2": 1.2,
    "dbpedia": 1.2,
    "agnews": 0.4,
    "MultiRC": 0.4,
    "yahoo": 1.2,
}
# order -> (global batch, [(lr, epochs) per task position], lambda_1)
LLAMA_TABLE: dict[int, tuple[int, list[tuple[float, int]], float]] = {
    1: (48, [(1e-3, 1), (1e-4, 10), (1e-4, 1), (1e-4, 1)], 0.46),
    2: (32, [(1e-4, 1), (5e-5, 5), (5e-5, 1), (5e-5, 1)], 0.38),
    3: (32, [(1e-4, 5), (1e-4, 10), (1e-4, 1), (1e-4, 1)], 0.4),
}
LLAMA_PER_DEVICE_BATCH = 4


def _order4_lambda(name: str) -> float:
    if name not in ORDER4_LAMBDAS:
        raise ConfigError(
            f"N-LoRA's order-4 table has no lambda_1 for task {name!r} (it lists "
            f"{sorted(ORDER4_LAMBDAS)}); pass --lambda-1 to set one for every task"
        )
    return ORDER4_LAMBDAS[name]


def nlora_task_params(
    order: int, names: list[str], causal_lm: bool, lambda_1: float | None = None
) -> list[dict[str, Any]]:
    """One dict per task: lr, epochs, lambda_1 (the trainer and N-LoRA read them).

    ``lambda_1`` (the command line's) replaces the table's value for every task; it is taken
    here so that order 4's table is not consulted for task names it does not list."""
    if order not in T5_TABLE:
        raise ConfigError(f"N-LoRA has orders 1-6, got {order}")
    _, t5_lr, t5_lambda = T5_TABLE[order]
    if causal_lm and order in LLAMA_TABLE:
        _, schedule, lam = LLAMA_TABLE[order]
        if len(names) != len(schedule):
            raise ConfigError(
                f"the LLaMA table of order {order} has {len(schedule)} tasks, the stream has "
                f"{len(names)} ({names})"
            )
        return [
            {"lr": lr, "epochs": ep, "lambda_1": lam if lambda_1 is None else lambda_1}
            for lr, ep in schedule
        ]
    params = []
    for name in names:
        if lambda_1 is not None:
            lam = lambda_1
        else:
            lam = t5_lambda if t5_lambda is not None else _order4_lambda(name)
        params.append({"lr": t5_lr, "epochs": T5_EPOCHS, "lambda_1": lam})
    return params


def nlora_batch(order: int, causal_lm: bool) -> tuple[int, int]:
    """(global batch, per-device batch) of the paper for this order and model family."""
    if causal_lm and order in LLAMA_TABLE:
        return LLAMA_TABLE[order][0], LLAMA_PER_DEVICE_BATCH
    batch = T5_TABLE[order][0]
    return batch, (LLAMA_PER_DEVICE_BATCH if causal_lm else batch)

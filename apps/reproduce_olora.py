"""Reproduce O-LoRA (Wang et al., 2023) on the 15-task CL benchmark.

Paper setting (defaults; the table is ``apps/tables/olora.py``): T5-large, adapters on every
attention q and v (r 8, alpha 32, dropout 0.1), one new adapter per task with earlier ones frozen,
orthogonality lambda_1 = 0.5 (orders 1-3; the order-6 per-task table for orders 4-6), lambda_2 = 0,
AdamW lr 1e-3, constant schedule, 1 epoch, global batch 64, gradient clipping 1.0, seed 42, greedy
decoding of 50 new tokens, exact match after each task on every task seen so far. A causal LM
passed with --model gets the LLaMA settings (lr 1e-3 on task 1 then 1e-4). `--method` runs the
baselines (seqft, seqlora, inclora, mtl) with the same recipe. Settings: README "Configuration".

    python apps/reproduce_olora.py --preset smoke       # tiny T5, synthetic tasks, no download
    python apps/reproduce_olora.py --preset smoke --smoke-arch llama     # tiny LLaMA instead
    python apps/reproduce_olora.py --order 1 --model /path/to/t5-large
    python apps/reproduce_olora.py --config runs/reproduce_olora/order1-olora/run_config.yaml
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from common import config
from common.lora_config import LORA_METHODS, LoRARunConfig, presets
from common.lora_run import PaperTable, run_lora_app
from common.recipe import every_task
from tables.olora import GLOBAL_BATCH, PER_DEVICE_BATCH, olora_task_params

from cl_data.errors import DataError


@dataclass
class OLoRARun(LoRARunConfig):
    method: str = field(default="olora", metadata={"help": "olora, or a baseline"})
    lambda_2: float | None = field(
        default=None,
        metadata={"help": "O-LoRA's lambda_2 for every task (null: the paper's table)", "min": 0},
    )


SPEC = config.AppSpec(
    prog="reproduce_olora.py",
    description="Reproduce O-LoRA on the 15-task CL benchmark (orders 1-6).",
    root=OLoRARun,
    methods=LORA_METHODS,
    presets=presets,
    selectors=("preset", "smoke_arch"),
)


def paper_table(cfg: OLoRARun, names: list[str], causal_lm: bool) -> PaperTable:
    # The paper's per-task lr, epochs and lambdas; a value set in the configuration wins
    per_task = olora_task_params(cfg.order, names, causal_lm)
    every_task(per_task, lr=cfg.lr, epochs=cfg.epochs, lambda_1=cfg.lambda_1)
    every_task(per_task, lambda_2=cfg.lambda_2)
    global_batch = cfg.global_batch or GLOBAL_BATCH
    per_device = cfg.per_device_batch or PER_DEVICE_BATCH["causal" if causal_lm else "t5"]
    return PaperTable(per_task, global_batch, per_device)


@config.entry(DataError)
def main(argv: list[str] | None = None) -> int:
    return run_lora_app(SPEC, argv, "O-LoRA", paper_table)


if __name__ == "__main__":
    sys.exit(main())

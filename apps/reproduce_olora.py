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

from common import config, run_folder
from common.lora_config import LORA_METHODS, LoRARunConfig, presets
from common.lora_run import LoRARecipe, train_and_report
from common.recipe import attach, every_task, load_benchmark, load_model
from tables.olora import GLOBAL_BATCH, PER_DEVICE_BATCH, olora_task_params

from cl_data.errors import DataError
from cl_methods import RunInfo, build_method


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


@config.entry(DataError)
def main(argv: list[str] | None = None) -> int:
    cfg = config.load(SPEC, argv)
    run_folder.claim(cfg, cfg.output_dir)

    # Data: the order's tasks (the embedded synthetic ones for the smoke preset)
    stream, data_source = load_benchmark(cfg)
    names = list(stream.names)

    # Model: frozen T5-large, or a causal LM (which gets the LLaMA settings)
    model, tokenizer, causal_lm, model_name = load_model(cfg, SPEC.prog)

    # Method: O-LoRA or a baseline, attached now so that a model it cannot adapt fails at once
    method = build_method(SPEC.methods[cfg.method], cfg.method_config)
    method.bind_run(RunInfo(num_tasks=len(names), task_names=tuple(names)))
    model = attach(method, model, model_name)

    # The paper's per-task lr, epochs and lambdas; a value set in the configuration wins
    per_task = olora_task_params(cfg.order, names, causal_lm)
    every_task(per_task, lr=cfg.lr, epochs=cfg.epochs, lambda_1=cfg.lambda_1)
    every_task(per_task, lambda_2=cfg.lambda_2)
    global_batch = cfg.global_batch or GLOBAL_BATCH
    per_device = cfg.per_device_batch or PER_DEVICE_BATCH["causal" if causal_lm else "t5"]

    recipe = LoRARecipe(
        "O-LoRA", cfg, model, tokenizer, method, causal_lm, model_name, stream, data_source,
        per_task, global_batch, per_device,
    )  # fmt: skip
    return train_and_report(recipe)


if __name__ == "__main__":
    sys.exit(main())

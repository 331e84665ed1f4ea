"""Reproduce O-LoRA (Wang et al., 2023) on the 15-task CL benchmark.

Paper setting (defaults): T5-large, adapters on every attention q and v (r 8, alpha 32, dropout
0.1), one new adapter per task with earlier ones frozen, orthogonality lambda_1 = 0.5 (orders 1-3;
the order-6 per-task table for orders 4-6), lambda_2 = 0, AdamW lr 1e-3, constant schedule,
1 epoch, global batch 64, gradient clipping 1.0, seed 42, greedy decoding of 50 new tokens,
exact match after each task on every task seen so far. A causal LM passed with --model gets the
LLaMA settings (lr 1e-3 on task 1 then 1e-4). `--method` runs the baselines (seqft, seqlora,
inclora, mtl) with the same recipe.

    python apps/reproduce_olora.py --preset smoke       # tiny T5, synthetic tasks, no download
    python apps/reproduce_olora.py --preset smoke --smoke-arch llama     # tiny LLaMA instead
    python apps/reproduce_olora.py --order 1 --model /path/to/t5-large
"""

from __future__ import annotations

from common.lora_recipe import App, main
from common.olora_tables import GLOBAL_BATCH, olora_task_params

APP = App(
    script="reproduce_olora.py",
    title="O-LoRA",
    default_method="olora",
    task_params=lambda order, names, causal_lm, args: olora_task_params(order, names, causal_lm),
    method_flags={
        "lambda_1": "orthogonality weight for every task (paper: 0.5; order 4-6 table)",
        "lambda_2": "L2 weight for every task (paper: 0; order 4-6 table)",
        "orth_norm": "l1 (released code) or l2sq (paper's squares)",
    },
    paper_defaults={
        "global_batch": GLOBAL_BATCH,
        "per_device_batch": 8,
        "per_device_batch_causal": 4,
    },
)

if __name__ == "__main__":
    main(APP)

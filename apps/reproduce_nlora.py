"""Reproduce N-LoRA (Yang et al., COLING 2025) on the 15-task CL benchmark.

Paper setting (defaults): T5-large, adapters on every attention q and v (r 8, alpha 32, dropout
0.1), one new adapter per task with earlier ones frozen, and an L1 sparsity penalty on the current
adapter, lambda_1 * ||A_w @ B_w||_1 as released (--nlora-target delta_w: the paper's ||B_w A_w||_1),
from task 1, no orthogonality or L2 term. T5: 10 epochs per task, 1 GPU without accumulation, batch
48 (order 1) or 32, lr 1e-3 (order 4: 5e-4, order 5: 8e-4), lambda_1 0.4 (order 4 per task,
order 5 0.55, order 6 1.8). A causal LM passed with --model gets the LLaMA table (per-task lr and
epochs, lambda_1 0.46 / 0.38 / 0.4 for orders 1-3). Greedy decoding of 50 new tokens, exact match
after each task on every task seen so far; the task-update analysis (parameter collision, subspace
overlap) goes into results.json and task_updates.png. `--method` runs O-LoRA and the baselines
(seqft, seqlora, inclora, mtl) on the same recipe.

    python apps/reproduce_nlora.py --preset smoke                       # tiny T5, no download
    python apps/reproduce_nlora.py --preset smoke --smoke-arch llama    # tiny LLaMA
    python apps/reproduce_nlora.py --preset smoke --smoke-arch llama-gqa --nlora-target delta_w
    python apps/reproduce_nlora.py --order 1 --model /path/to/t5-large
"""

from __future__ import annotations

from common.lora_recipe import App, main
from common.nlora_tables import nlora_batch, nlora_task_params


def _task_params(order, names, causal_lm, args):
    lam = None if args.lambda_1 is None else float(args.lambda_1)
    return nlora_task_params(order, names, causal_lm, lambda_1=lam)


APP = App(
    script="reproduce_nlora.py",
    title="N-LoRA",
    default_method="nlora",
    task_params=_task_params,
    method_flags={
        "lambda_1": "L1 weight for every task (paper: 0.4 T5 orders 1-3; tables per order/model)",
        "nlora_target": "ab (released: ||A_w B_w||_1, square layers only) or delta_w (paper)",
    },
    batch_table=nlora_batch,
)

if __name__ == "__main__":
    main(APP)

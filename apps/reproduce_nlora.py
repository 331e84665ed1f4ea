"""Reproduce N-LoRA (Yang et al., COLING 2025) on the 15-task CL benchmark.

Paper setting (defaults; the tables are ``apps/tables/nlora.py``): T5-large, adapters on every
attention q and v (r 8, alpha 32, dropout 0.1), one new adapter per task with earlier ones frozen,
and an L1 sparsity penalty on the current adapter, lambda_1 * ||A_w @ B_w||_1 as released
(--nlora-target delta_w: the paper's ||B_w A_w||_1), from task 1, no orthogonality or L2 term. T5:
10 epochs per task, 1 GPU without accumulation, batch 48 (order 1) or 32, lr 1e-3 (order 4: 5e-4,
order 5: 8e-4), lambda_1 0.4 (order 4 per task, order 5 0.55, order 6 1.8). A causal LM passed
with --model gets the LLaMA table (per-task lr and epochs, lambda_1 0.46 / 0.38 / 0.4 for orders
1-3). Greedy decoding of 50 new tokens, exact match after each task on every task seen so far; the
task-update analysis (parameter collision, subspace overlap) goes into results.json and
task_updates.png. `--method` runs O-LoRA and the baselines (seqft, seqlora, inclora, mtl) on the
same recipe. Settings: README "Configuration".

    python apps/reproduce_nlora.py --preset smoke                       # tiny T5, no download
    python apps/reproduce_nlora.py --preset smoke --smoke-arch llama    # tiny LLaMA
    python apps/reproduce_nlora.py --preset smoke --smoke-arch llama-gqa --nlora-target delta_w
    python apps/reproduce_nlora.py --order 1 --model /path/to/t5-large
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from common import config, run_folder
from common.lora_config import LORA_METHODS, LoRARunConfig, presets
from common.recipe import (
    accumulation,
    attach,
    every_task,
    generation_evaluator,
    hardware,
    load_benchmark,
    load_model,
    make_encoder,
    precision,
    task_update_analysis,
    train_tasks,
    trainer_settings,
)
from common.report import write_run_report
from tables.nlora import nlora_batch, nlora_task_params

from cl_data.errors import DataError
from cl_eval import exact_match
from cl_methods import ContinualTrainer, RunInfo, build_method


@dataclass
class NLoRARun(LoRARunConfig):
    method: str = field(default="nlora", metadata={"help": "nlora, or O-LoRA or a baseline"})


SPEC = config.AppSpec(
    prog="reproduce_nlora.py",
    description="Reproduce N-LoRA on the 15-task CL benchmark (orders 1-6).",
    root=NLoRARun,
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

    # Method: N-LoRA, O-LoRA or a baseline, attached now so that a model it cannot adapt fails
    method = build_method(SPEC.methods[cfg.method], cfg.method_config)
    method.bind_run(RunInfo(num_tasks=len(names), task_names=tuple(names)))
    model = attach(method, model, model_name)

    # The paper's per-task lr, epochs and lambda_1 (T5 or LLaMA table); set values win
    per_task = nlora_task_params(cfg.order, names, causal_lm, lambda_1=cfg.lambda_1)
    every_task(per_task, lr=cfg.lr, epochs=cfg.epochs)
    paper_global, paper_per_device = nlora_batch(cfg.order, causal_lm)
    global_batch = cfg.global_batch or paper_global
    per_device = cfg.per_device_batch or paper_per_device

    # Trainer: encoded tasks, AdamW, greedy generation scored by exact match
    encoder = make_encoder(tokenizer, causal_lm, cfg)
    tasks = train_tasks(stream, encoder, per_task)
    trainer_cfg = trainer_settings(
        cfg,
        epochs=per_task[0]["epochs"],
        lr=per_task[0]["lr"],
        batch_size=per_device,
        grad_accum=accumulation(global_batch, per_device),
        weight_decay=cfg.weight_decay,
        lr_scheduler=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps,
        mixed_precision=precision(cfg.precision, causal_lm),
        eval_future=cfg.eval_future,
        eval_before_training=cfg.eval_before,
    )
    evaluate = generation_evaluator(
        encoder, tokenizer, exact_match, max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.eval_batch_size, progress=cfg.progress,
    )  # fmt: skip
    trainer = ContinualTrainer(model, method, trainer_cfg, evaluate=evaluate)
    run_folder.save(cfg, cfg.output_dir)
    print(
        f"N-LoRA: method {method.name}, model {model_name}, order {cfg.order} ({', '.join(names)})"
        f", data {data_source}, global batch {global_batch} = {per_device} x "
        f"{trainer_cfg.grad_accum} x {trainer.accelerator.num_processes}, output {cfg.output_dir}",
        flush=True,
    )
    result = trainer.fit(tasks, resume=cfg.resume)

    # Report: R, AP, BWT, the heatmap, and the task-update analysis of stacked adapters
    if not trainer.accelerator.is_main_process:
        return 0
    title = f"N-LoRA order {cfg.order} {method.name}"
    analysis = None
    if cfg.analysis:
        analysis = task_update_analysis(
            trainer.model, names, trainer.output_dir, cfg.plot, f"{title}: task updates"
        )
    write_run_report(
        result,
        cfg.output_dir,
        name=title + ("-smoke" if cfg.preset == "smoke" else ""),
        config={
            "run": config.plain(cfg),
            "model": model_name,
            "data": data_source,
            "tasks": names,
            "task_params": per_task,
            "method": {"name": method.name, **method.config.to_dict()},
            "trainer": trainer_cfg.to_dict(),
        },
        hardware=hardware(trainer, global_batch),
        plot=cfg.plot,
        extra={"task_update_analysis": analysis} if analysis is not None else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

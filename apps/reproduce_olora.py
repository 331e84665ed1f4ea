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
from tables.olora import GLOBAL_BATCH, PER_DEVICE_BATCH, olora_task_params

from cl_data.errors import DataError
from cl_eval import exact_match
from cl_methods import ContinualTrainer, RunInfo, build_method


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


#: printed after a smoke run: its numbers are no evidence about the method
SMOKE_NOTE = (
    "Note: the smoke model is a randomly initialised tiny T5 or LLaMA; its numbers show the "
    "pipeline runs, not that the method works. The efficacy study (pretrained MiniLM, real data) "
    "is in results/efficacy/README.md (README: 'Does it work?')."
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
        f"O-LoRA: method {method.name}, model {model_name}, order {cfg.order} ({', '.join(names)})"
        f", data {data_source}, global batch {global_batch} = {per_device} x "
        f"{trainer_cfg.grad_accum} x {trainer.accelerator.num_processes}, output {cfg.output_dir}",
        flush=True,
    )
    result = trainer.fit(tasks, resume=cfg.resume)

    # Report: R, AP, BWT, the heatmap, and the task-update analysis of stacked adapters
    if not trainer.accelerator.is_main_process:
        return 0
    title = f"O-LoRA order {cfg.order} {method.name}"
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
    if cfg.preset == "smoke":
        print(SMOKE_NOTE, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

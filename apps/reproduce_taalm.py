"""Reproduce the continual-knowledge-learning runs of TAALM (Seo et al., NeurIPS 2024), spec
``taalm.md`` §5, §9, §10, on top of cl-methods' ContinualTrainer.

    python apps/reproduce_taalm.py --benchmark lama-ckl --method taalm \\
        --phi-checkpoint runs/ta/selected --output-dir runs/lama_taalm
    python apps/reproduce_taalm.py --benchmark temporalwiki --method finetune \\
        --twiki-diffset-dir data/twiki_diffsets --output-dir runs/twiki_finetune
    python apps/reproduce_taalm.py --preset smoke --benchmark lama-ckl --method finetune \\
        --output-dir runs/smoke_lama
    python apps/reproduce_taalm.py --config runs/smoke_lama/run_config.yaml \\
        --output-dir runs/smoke_lama_again        # rerun the same experiment

Methods: finetune, oracle, kadapter, recadam, mixreview, rho1, taalm, and TAALM combined with any
of kadapter, recadam, mixreview, rho1 (``taalm+kadapter+mixreview+recadam``). TAALM needs a
Train-Attention checkpoint written by ``apps/train_attention.py`` (``--phi-checkpoint``).

Settings: README "Configuration"; the per-benchmark values are in ``apps/tables/taalm.py``. A
combined method's options are the sections of TAALM's config (``--recadam.anneal_t0 0``,
``--mixreview.replay_ratio 1``); a single method's are its config's (``--anneal-t0``).

Paper defaults (``--preset paper``): theta = Llama-2-7B for LAMA-ckl, TinyLlama-1.1B-Chat for
TemporalWiki, starting from the authors' published LoRA adapters (``--theta-adapter none``: a fresh
LoRA r64/alpha16/dropout 0.1 on q,k,v,o,gate,up,down); QLoRA (NF4 base) when bitsandbytes and a
GPU are present, LoRA otherwise; bf16 autocast on GPU with fp32 trainables. AdamW lr 1e-4, wd
0.01, betas (0.9, 0.999), no clipping, constant learning rate; 64 training documents per step
(LAMA-ckl Mix-review: 32 + 32 replay; TemporalWiki Mix-review: 64 + 64), evidences truncated to
512 tokens, known-token masking off.

- LAMA-ckl: train 30 epochs on the TO-LEARN evidences (``variant.jsonl``), evaluate TO-LEARN and
  NOT-TO-FORGET (``invariant_descriptive.jsonl``) descriptive probes before training and after
  every epoch (31 evaluations), and report Top Acc, Epoch, NF Acc and Total Knowledge.
  Mix-review replays the ``evidence`` of ``invariant_descriptive.jsonl`` (the file the reference
  names; ``--replay-files`` to change it).
- TemporalWiki: three periods as three tasks (diffsets 0910, 1011, 1112, one epoch each), each
  from the previous theta with a fresh optimizer; report each period's changed/unchanged NLL.
  The training diffsets and Mix-review's Aug-2021 snapshot are not in the shared data: pass
  ``--twiki-diffset-dir`` (``diffset_<d>_filtered.jsonl`` or ``wikipedia_<d>_gpt2.csv``) and
  ``--replay-files`` (JSON lines with a ``text`` field).

``--preset smoke`` runs offline in seconds on CPU: a tiny random Llama (3 layers, width 64), a BPE
tokenizer trained on the benchmark files (or the one of the ``--phi-checkpoint``, from a smoke run
of ``apps/train_attention.py``), 16 TO-LEARN evidences and 16 probes per set, 3 epochs for
LAMA-ckl; for TemporalWiki documented stand-ins built from the shared probe files
(``cl_data.ckl.smoke_twiki_diffsets`` / ``smoke_twiki_replay``: plain "subject , relation ,
object ." statements of each period's changed probes, and of unchanged probes for replay).

Outputs in ``--output-dir``: ``results.json`` (cl-eval results format; CKL summary under
``extra``), ``results.md`` (the paper's tables), ``epochs.jsonl`` or ``periods.jsonl``,
``eval_log.jsonl`` (every evaluation as it happens), the trainer's ``trainer_results.json``,
``train_log.jsonl``, TensorBoard logs and ``checkpoints/`` (``--resume`` continues a run).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import PartialState
from common import config, run_folder
from taalm_app.data import RecipeError, lama_ckl, require_twiki_inputs, smoke_texts, temporalwiki
from taalm_app.evaluation import ProbeEvaluator
from taalm_app.models import build_theta, resolve_tokenizer, smoke_model
from taalm_app.report import write_ckl_report
from tables.taalm import CKL_METHODS, SMOKE, TaalmRun, taalm_presets

from cl_data.errors import DataError
from cl_data.paths import shared_data_root
from cl_methods import ContinualTrainer, RunInfo, TrainerConfig, build_method
from cl_methods.taalm import ModelUnavailableError

SPEC = config.AppSpec(
    prog="reproduce_taalm.py",
    description="Reproduce TAALM's continual-knowledge-learning runs (LAMA-ckl, TemporalWiki).",
    root=TaalmRun,
    methods=CKL_METHODS,
    presets=taalm_presets,
    selectors=("preset", "benchmark"),
)
#: settings that may differ between a run and its resumption
RESUME_FREE = {"resume", "progress", "threads", "output_dir", "log_with"}


def check_resume(cfg: TaalmRun, out: Path) -> None:
    """Refuse to mix two runs in one folder; a resumed run must use the same settings."""
    saved_path = out / config.CONFIG_FILE
    has_ckpt = (out / "checkpoints" / "latest").is_file()
    if has_ckpt and not cfg.resume:
        raise RecipeError(
            f"{out} already holds a run: pass --resume to continue it, or another --output-dir"
        )
    if cfg.resume and not has_ckpt:
        raise RecipeError(
            f"--resume: {out} holds no checkpoint to resume (run without --resume to start it)"
        )
    if cfg.resume and saved_path.is_file():
        saved = yaml.safe_load(saved_path.read_text())
        current = config.plain(cfg)
        keys = (set(saved) | set(current)) - RESUME_FREE
        diff = sorted(k for k in keys if saved.get(k) != current.get(k))
        shown = [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in diff]
        versions = out / run_folder.VERSIONS_FILE
        if versions.is_file():
            was, now = json.loads(versions.read_text()), run_folder.installed_versions()
            for k in sorted(set(was) | set(now)):
                if was.get(k) != now.get(k):
                    shown.append(f"version of {k}: {was.get(k)!r} -> {now.get(k)!r}")
        if shown:
            raise RecipeError(f"cannot resume {out} with other settings ({', '.join(shown)})")


def trainer_config(cfg: TaalmRun, replay_ratio: float, out: Path) -> TrainerConfig:
    """Documents per step from the paper's batch (with replay: its replay batch); micro-batches
    of ``micro_batch_rows`` rows, of which 1 / (1 + r) are training documents."""
    batch = cfg.batch_size_with_replay if replay_ratio > 0 else cfg.batch_size
    rows = max(1, math.floor(cfg.micro_batch_rows / (1 + replay_ratio)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if batch % (rows * world):
        flag = "--batch-size-with-replay" if replay_ratio > 0 else "--batch-size"
        raise config.ConfigError(
            f"{flag} {batch} is not a multiple of {rows} training documents per micro-batch x "
            f"{world} process(es); change {flag} or --micro-batch-rows"
        )
    return TrainerConfig(
        output_dir=str(out),
        epochs=cfg.epochs,
        lr=cfg.lr,
        batch_size=rows,
        grad_accum=batch // (rows * world),
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        adam_betas=(cfg.adam_beta1, cfg.adam_beta2),
        adam_eps=cfg.adam_eps,
        lr_scheduler="constant",
        mixed_precision=_precision(cfg.mixed_precision),
        seed=cfg.seed,
        eval_before_training=cfg.benchmark == "lama-ckl" or bool(cfg.eval_before_training),
        eval_every_epoch=True,
        checkpoint_every=cfg.checkpoint_every,
        max_consecutive_nonfinite=cfg.max_consecutive_nonfinite,
        keep_checkpoints=cfg.keep_checkpoints,
        log_with=tuple(t for t in cfg.log_with.split(",") if t.lower() != "none"),
        progress=cfg.progress,
    )


def _precision(choice: str) -> str:
    if choice == "auto":
        return "bf16" if torch.cuda.is_available() else "no"
    return choice


def task_info(task: Any) -> dict[str, Any]:
    probes = {k: {"n": len(v), "skipped": v.skipped} for k, v in task.eval.items()}
    return {"name": task.name, "train_documents": len(task.train), "probes": probes}


@config.entry(ModelUnavailableError, DataError)
def main(argv: list[str] | None = None) -> int:
    cfg = config.load(SPEC, argv)
    out = Path(cfg.output_dir)
    smoke = cfg.preset == "smoke"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    # Method first: it declares what the data and theta need (replay documents, object masks,
    # a LoRA on theta, phi's tokenizer)
    method = build_method(SPEC.methods[cfg.method], cfg.method_config)
    replay_ratio = method.replay_ratio()
    if method.needs_object_mask() and cfg.benchmark != "lama-ckl":
        raise RecipeError(f"{cfg.label()} needs each document's object: it runs on LAMA-ckl only")
    if cfg.benchmark == "temporalwiki" and not smoke:
        require_twiki_inputs(cfg.twiki_diffset_dir, replay_ratio > 0, cfg.replay_files)
    try:
        required_tokenizer = method.required_tokenizer()
    except ValueError as err:
        raise RecipeError(f"--phi-checkpoint: {err}") from None
    trainer_cfg = trainer_config(cfg, replay_ratio, out)

    # Tokenizer and theta's base (the smoke preset writes a tiny random Llama); under
    # `accelerate launch` the main process writes the run's files first
    data_dir = Path(cfg.data_dir) if cfg.data_dir else shared_data_root() / "taalm"
    state = PartialState(cpu=not torch.cuda.is_available())
    with state.main_process_first():
        out.mkdir(parents=True, exist_ok=True)
        check_resume(cfg, out)
        tok = resolve_tokenizer(
            cfg, required_tokenizer, out, lambda: smoke_texts(data_dir, cfg.limit_probes or 16)
        )
        model_name = cfg.model
        if smoke and model_name == SMOKE["model"]:
            model_name = smoke_model(
                tok, out / "models" / "theta", cfg.smoke_layers, cfg.smoke_width, cfg.seed
            )

    # Data: LAMA-ckl (one task, 31 evaluations) or TemporalWiki (three periods)
    common = {
        "max_length": cfg.max_length,
        "with_replay": replay_ratio > 0,
        "replay_files": cfg.replay_files,
        "replay_field": cfg.replay_field,
        "limit_train": cfg.limit_train,
        "limit_probes": cfg.limit_probes,
    }
    if cfg.benchmark == "lama-ckl":
        lama = lama_ckl(
            data_dir, tok, probe=cfg.probe_kind, object_mask=method.needs_object_mask(),
            strict=not smoke, **common,
        )  # fmt: skip
        tasks, replay = [lama.task], lama.replay
    else:
        twiki = temporalwiki(
            data_dir, tok, diffset_dir=cfg.twiki_diffset_dir, smoke=smoke, **common
        )
        tasks, replay = twiki.tasks, twiki.replay
    if replay is not None:
        method.set_replay_records(replay)

    # Model: theta with a fresh or published LoRA (or bare and frozen when the method brings
    # its own modules)
    theta = build_theta(cfg, model_name, method.base_lora(), len(tok))
    method.bind_run(RunInfo(len(tasks), tuple(t.name for t in tasks), tokenizer=tok))

    # Trainer: probe evaluation after every epoch
    evaluator = ProbeEvaluator(tok.pad_token_id, cfg.eval_batch_size, out / "eval_log.jsonl")
    trainer = ContinualTrainer(theta, method, trainer_cfg, evaluate=evaluator)
    if state.is_main_process:
        run_folder.save(cfg, out)
    result = trainer.fit(tasks, resume=cfg.resume)

    # Report: the paper's tables (Top Acc, NF Acc, Total Knowledge; or NLL per period)
    printed = write_ckl_report(
        result,
        out,
        benchmark=cfg.benchmark,
        label=cfg.label(),
        config={
            "run": config.plain(cfg),
            "trainer": trainer_cfg.to_dict(),
            "method": method.config.to_dict(),
            "theta": model_name,
            "tasks": [task_info(t) for t in tasks],
        },
        write=state.is_main_process,
    )
    if state.is_main_process:
        print(printed["table"])
        print(f"results: {out / 'results.json'}, {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reproduce the continual-knowledge-learning runs of TAALM (Seo et al., NeurIPS 2024), spec
``taalm.md`` §5, §9, §10, on top of cl-methods' ContinualTrainer.

    python apps/reproduce_taalm.py --benchmark lama-ckl --method taalm \\
        --phi-checkpoint runs/ta/selected --output-dir runs/lama_taalm
    python apps/reproduce_taalm.py --benchmark temporalwiki --method finetune \\
        --twiki-diffset-dir data/twiki_diffsets --output-dir runs/twiki_finetune
    python apps/reproduce_taalm.py --preset smoke --benchmark lama-ckl --method finetune \\
        --output-dir runs/smoke_lama

Methods: finetune, oracle, kadapter, recadam, mixreview, rho1, taalm, and TAALM combined with any
of kadapter, recadam, mixreview, rho1 (``taalm+kadapter+mixreview+recadam``). TAALM needs a
Train-Attention checkpoint written by ``apps/train_attention.py`` (``--phi-checkpoint``).

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

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from taalm_app.data import (
    RecipeError,
    lama_ckl,
    require_twiki_inputs,
    smoke_texts,
    temporalwiki,
)
from taalm_app.evaluation import ProbeEvaluator
from taalm_app.models import build_theta, resolve_tokenizer, smoke_model
from taalm_app.presets import COMMON, PAPER, PRESETS, parse_method
from taalm_app.report import write_ckl_report

from cl_data.errors import DataError
from cl_data.paths import shared_data_root
from cl_methods import ContinualTrainer, TrainerConfig, build_method, parse_bool
from cl_methods.taalm import ModelUnavailableError

#: arguments that may differ between a run and its resumption
RESUME_FREE = {"resume", "progress", "threads", "output_dir", "log_with"}


def _bool(value: str) -> bool:
    try:
        return parse_bool(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


class _Explicit:
    """An explicit 'none' on the command line (kept apart from "not given" until the preset's
    defaults are filled in, then turned into None)."""


NONE = _Explicit()


def _none_or(kind: Any):
    def convert(value: str) -> Any:
        return NONE if value.strip().lower() == "none" else kind(value)

    return convert


def _int_list(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def _str_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--benchmark", required=True, choices=sorted(PAPER))
    p.add_argument(
        "--method",
        required=True,
        help="finetune|oracle|kadapter|recadam|mixreview|"
        "rho1|taalm[+kadapter][+recadam][+mixreview][+rho1]",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--output-dir", required=True)
    p.add_argument(
        "--resume",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="continue the run in --output-dir from its last checkpoint",
    )
    p.add_argument(
        "--data-dir",
        help="folder with LAMA_ckl/ and TemporalWiki/eval/ (default: $CL_SHARED_DATA/taalm)",
    )
    p.add_argument("--twiki-diffset-dir", help="TemporalWiki training diffsets (not distributed)")
    p.add_argument(
        "--replay-files",
        type=_str_list,
        default=[],
        help="Mix-review replay JSON-lines files, comma separated",
    )
    p.add_argument("--replay-field", help="field of a replay record holding its text")
    p.add_argument("--phi-checkpoint", help="Train-Attention folder from apps/train_attention.py")
    p.add_argument("--phi-quantization", choices=["auto", "nf4", "none"], default="auto")
    p.add_argument("--model", help="theta: hub id or local folder")
    p.add_argument("--tokenizer", help="default: theta's (phi's must be identical)")
    p.add_argument(
        "--theta-adapter",
        type=_none_or(str),
        help="published LoRA adapter theta starts from; 'none' for a fresh LoRA",
    )
    p.add_argument("--quantization", choices=["auto", "nf4", "none"], default="auto")
    p.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"], default="auto")
    p.add_argument("--gradient-checkpointing", type=_bool, default=False)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--log-with", type=_str_list, default=["tensorboard"], help="'none' for none")
    p.add_argument("--progress", type=_bool, default=True)
    p.add_argument(
        "--eval-before-training",
        type=_bool,
        help="TemporalWiki: also evaluate theta0 (LAMA-ckl always evaluates epoch 0)",
    )
    typed = {
        "epochs": int,
        "lr": float,
        "weight_decay": float,
        "adam_beta1": float,
        "adam_beta2": float,
        "adam_eps": float,
        "max_grad_norm": float,
        "max_length": int,
        "batch_size": int,
        "micro_batch_rows": int,
        "eval_batch_size": int,
        "checkpoint_every": int,
        "lora_r": int,
        "lora_alpha": int,
        "lora_dropout": float,
        "lora_targets": _str_list,
        "known_masking": _bool,
        "replay_ratio": float,
        "replay_seed": int,
        "recadam_anneal_k": float,
        "recadam_t0": float,
        "recadam_gamma": float,
        "recadam_grouping": str,
        "rho1_keep_ratio": float,
        "rho1_criterion": str,
        "kadapter_taps": _int_list,
        "kadapter_dropout": float,
        "kadapter_scale": float,
        "probe_kind": str,
        "limit_train": _none_or(int),
        "limit_probes": _none_or(int),
        "smoke_vocab": int,
        "smoke_layers": int,
        "smoke_width": int,
        "threads": _none_or(int),
        "keep_checkpoints": int,
    }
    choices = {
        "recadam_grouping": ["all", "reference"],
        "rho1_criterion": ["excess_loss", "prob_gain"],
        "probe_kind": ["descriptive", "schematic"],
    }
    for key, kind in typed.items():
        flag = "--" + key.replace("_", "-")
        p.add_argument(
            flag,
            type=kind,
            choices=choices.get(key),
            default=None,
            help=f"default: the preset's ({COMMON.get(key, 'per benchmark')})",
        )
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    defaults = dict(PRESETS[args.preset][args.benchmark])
    defaults.setdefault("replay_seed", 42)
    defaults.setdefault("keep_checkpoints", 2)
    mixreview = False
    try:
        name, combine = parse_method(args.method)
        mixreview = "mixreview" in (name, *combine)
    except ValueError as err:
        parser.error(str(err))
    if mixreview:
        defaults["batch_size"] = defaults["mixreview_batch_size"]
    for key, value in defaults.items():
        if getattr(args, key, None) is None and key != "mixreview_batch_size":
            setattr(args, key, value)
    for key, value in vars(args).items():
        if value is NONE:
            setattr(args, key, None)
    if args.eval_before_training is None or args.benchmark == "lama-ckl":
        args.eval_before_training = defaults["eval_before_training"]
    if args.mixed_precision == "auto":
        args.mixed_precision = "bf16" if torch.cuda.is_available() else "no"
    args.log_with = [x for x in args.log_with if x.lower() != "none"]
    return args


# -- method -------------------------------------------------------------------------------------
def method_options(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The config overrides of one registered CKL method from the command line."""
    opts: dict[str, Any] = {"known_masking": args.known_masking}
    if name == "recadam":
        opts.update(
            anneal_k=args.recadam_anneal_k,
            anneal_t0=args.recadam_t0,
            pretrain_cof=args.recadam_gamma,
            recadam_grouping=args.recadam_grouping,
            weight_decay=args.weight_decay,
        )
    elif name == "rho1":
        opts.update(keep_ratio=args.rho1_keep_ratio, criterion=args.rho1_criterion)
    elif name == "kadapter":
        opts.update(
            taps=tuple(args.kadapter_taps), dropout=args.kadapter_dropout, scale=args.kadapter_scale
        )
    elif name == "mixreview":
        opts.update(replay_ratio=args.replay_ratio, seed=args.replay_seed)
    return opts


def make_method(args: argparse.Namespace, replay: Any) -> Any:
    name, combine = parse_method(args.method)
    if name == "taalm":
        options = {part: method_options(args, part) for part in combine}
        for opts in options.values():
            opts.pop("known_masking")
        method = build_method(
            "taalm",
            {
                "phi_checkpoint": args.phi_checkpoint,
                "combine_with": combine,
                "options": options,
                "known_masking": args.known_masking,
                "phi_quantization": args.phi_quantization,
            },
        )
        mixer = method.part("mixreview") if "mixreview" in combine else None
    else:
        method = build_method(name, method_options(args, name))
        mixer = method if name == "mixreview" else None
    if mixer is not None:
        mixer.set_replay_records(replay)
    return method


# -- run ----------------------------------------------------------------------------------------
def check_resume(args: argparse.Namespace, out: Path) -> None:
    """Refuse to mix two runs in one folder; a resumed run must use the same settings."""
    config_path = out / "run_config.json"
    current = {k: v for k, v in vars(args).items() if k not in RESUME_FREE}
    has_ckpt = (out / "checkpoints" / "latest").is_file()
    if has_ckpt and not args.resume:
        raise RecipeError(
            f"{out} already holds a run: pass --resume to continue it, or another --output-dir"
        )
    if args.resume and config_path.is_file():
        saved = json.loads(config_path.read_text())
        diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if diff:
            shown = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in diff)
            raise RecipeError(f"cannot resume {out} with other settings ({shown})")
    config_path.write_text(json.dumps(current, indent=2, default=str))


def trainer_config(args: argparse.Namespace, out: Path) -> TrainerConfig:
    name, combine = parse_method(args.method)
    rows = args.micro_batch_rows
    if "mixreview" in (name, *combine):
        rows = max(1, math.floor(rows / (1 + args.replay_ratio)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.batch_size % (rows * world):
        raise RecipeError(
            f"--batch-size {args.batch_size} is not a multiple of {rows} training documents per "
            f"micro-batch x {world} process(es); change --batch-size or --micro-batch-rows"
        )
    return TrainerConfig(
        output_dir=str(out),
        epochs=args.epochs,
        lr=args.lr,
        batch_size=rows,
        grad_accum=args.batch_size // (rows * world),
        max_grad_norm=args.max_grad_norm,
        weight_decay=args.weight_decay,
        adam_betas=(args.adam_beta1, args.adam_beta2),
        adam_eps=args.adam_eps,
        lr_scheduler="constant",
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        eval_before_training=args.eval_before_training,
        eval_every_epoch=True,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        log_with=tuple(args.log_with),
        progress=args.progress,
    )


def task_info(task: Any) -> dict[str, Any]:
    probes = {k: {"n": len(v), "skipped": v.skipped} for k, v in task.eval.items()}
    return {"name": task.name, "train_documents": len(task.train), "probes": probes}


def run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    name, combine = parse_method(args.method)
    parts = (name, *combine)
    if "ckl_oracle" in parts and args.benchmark != "lama-ckl":
        raise RecipeError("the oracle needs each document's object: it runs on LAMA-ckl only")
    if args.benchmark == "temporalwiki" and args.preset != "smoke":
        require_twiki_inputs(args.twiki_diffset_dir, "mixreview" in parts, args.replay_files)
    if name == "taalm" and not args.phi_checkpoint:
        raise RecipeError(
            "--phi-checkpoint is required for TAALM: a Train-Attention folder written by "
            "apps/train_attention.py (e.g. <its --out>/selected)"
        )
    if args.phi_checkpoint and not (Path(args.phi_checkpoint) / "train_attention.json").is_file():
        raise RecipeError(
            f"--phi-checkpoint {args.phi_checkpoint}: not a Train-Attention checkpoint folder "
            "(it needs train_attention.json and train_attention.safetensors, as written by "
            "apps/train_attention.py)"
        )
    cfg = trainer_config(args, out)
    data_dir = Path(args.data_dir) if args.data_dir else shared_data_root() / "taalm"
    smoke = args.preset == "smoke"
    # under `accelerate launch`, the main process writes the run's files first, then the others
    # find and read them
    state = PartialState(cpu=not torch.cuda.is_available())
    with state.main_process_first():
        check_resume(args, out)
        tok = resolve_tokenizer(args, out, lambda: smoke_texts(data_dir, args.limit_probes or 16))
        model_name = args.model
        if smoke and model_name == PRESETS["smoke"][args.benchmark]["model"]:
            model_name = smoke_model(
                tok, out / "models" / "theta", args.smoke_layers, args.smoke_width, args.seed
            )
    common = {
        "max_length": args.max_length,
        "mixreview": "mixreview" in parts,
        "replay_files": args.replay_files,
        "replay_field": args.replay_field,
        "limit_train": args.limit_train,
        "limit_probes": args.limit_probes,
    }
    if args.benchmark == "lama-ckl":
        lama = lama_ckl(
            data_dir,
            tok,
            probe=args.probe_kind,
            oracle="ckl_oracle" in parts,
            strict=not smoke,
            **common,
        )
        tasks, replay = [lama.task], lama.replay
    else:
        twiki = temporalwiki(
            data_dir, tok, diffset_dir=args.twiki_diffset_dir, smoke=smoke, **common
        )
        tasks, replay = twiki.tasks, twiki.replay
    method = make_method(args, replay)
    theta = build_theta(args, model_name, "kadapter" in parts, len(tok))
    evaluator = ProbeEvaluator(tok.pad_token_id, args.eval_batch_size, out / "eval_log.jsonl")
    trainer = ContinualTrainer(theta, method, cfg, evaluate=evaluator)
    result = trainer.fit(tasks, resume=args.resume)
    config = {
        "args": vars(args),
        "trainer": cfg.to_dict(),
        "method": method.config.to_dict(),
        "theta": model_name,
        "tasks": [task_info(t) for t in tasks],
    }
    return write_ckl_report(
        result,
        out,
        benchmark=args.benchmark,
        label=args.method,
        config=config,
        write=state.is_main_process,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        printed = run(args, out)
    except (ModelUnavailableError, RecipeError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if PartialState().is_main_process:
        print(printed["table"])
        print(f"results: {out / 'results.json'}, {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

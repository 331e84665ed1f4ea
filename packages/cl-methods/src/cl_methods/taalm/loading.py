"""Loading theta and phi backbones: QLoRA (NF4) when bitsandbytes and a GPU are present, plain
weights otherwise; eager attention (double backward); a clear error when a hub model is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from cl_methods.hub import hub_reachable, local_only

Quantization = Literal["auto", "nf4", "none"]


class ModelUnavailableError(RuntimeError):
    """A model or tokenizer could not be loaded (offline, gated, or a wrong path)."""


def model_unavailable(name: str, err: Exception) -> ModelUnavailableError:
    offline = not hub_reachable(timeout=1.0)
    return ModelUnavailableError(
        f"cannot load {name!r}: it is not a local folder and could not be fetched from the "
        f"Hugging Face hub{' (unreachable, or HF_HUB_OFFLINE is set)' if offline else ''}. "
        "To fix: download it where there is network access (Llama-2 is gated: accept its "
        "licence and run `huggingface-cli login`), then pass the local folder instead of the "
        "hub id, or unset HF_HUB_OFFLINE; or run the offline smoke preset with `--preset smoke`. "
        f"Underlying error: {type(err).__name__}: {err}"
    )


def nf4_available() -> bool:
    """QLoRA needs bitsandbytes and a CUDA device."""
    return importlib.util.find_spec("bitsandbytes") is not None and torch.cuda.is_available()


def resolve_quantization(quantization: Quantization) -> Literal["nf4", "none"]:
    if quantization == "auto":
        return "nf4" if nf4_available() else "none"
    if quantization == "nf4" and not nf4_available():
        raise RuntimeError("quantization='nf4' needs bitsandbytes and a CUDA device")
    if quantization not in ("nf4", "none"):
        raise ValueError(f"quantization must be auto, nf4 or none, got {quantization!r}")
    return quantization


def _transformers_at_least(version: str) -> bool:
    import transformers
    from packaging.version import Version

    return Version(transformers.__version__) >= Version(version)


def keep_fp32_islands(model: nn.Module) -> nn.Module:
    """Norms, embeddings and the LM head in fp32 (spec §2); the rest keeps its compute dtype."""
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if "norm" in leaf or isinstance(module, nn.Embedding) or leaf == "lm_head":
            for p in module.parameters(recurse=False):
                if p.dtype in (torch.float16, torch.bfloat16):
                    p.data = p.data.float()
    return model


def load_causal_lm(
    name_or_path: str,
    *,
    quantization: Quantization = "auto",
    compute_dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device | None = None,
) -> nn.Module:
    """A causal LM with eager attention and ``use_cache=False``.

    ``nf4``: frozen 4-bit NF4 weights computing in ``compute_dtype`` (QLoRA), placed on ``device``
    (default ``cuda``). ``none``: fp32 weights on ``device`` (default CPU).
    """
    from transformers import AutoModelForCausalLM

    mode = resolve_quantization(quantization)
    # transformers < 4.56 names the load dtype ``torch_dtype``
    dtype_key = "dtype" if _transformers_at_least("4.56") else "torch_dtype"
    kwargs: dict[str, Any] = {"attn_implementation": "eager", dtype_key: torch.float32}
    if mode == "nf4":
        kwargs[dtype_key] = compute_dtype
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype
        )
        kwargs["device_map"] = {"": str(device or "cuda")}
    kwargs["local_files_only"] = local_only(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as err:
        if Path(name_or_path).is_dir():
            raise
        raise model_unavailable(name_or_path, err) from err
    model.config.use_cache = False
    if mode == "nf4":
        keep_fp32_islands(model)
    elif device is not None:
        model.to(device)
    return model


def load_tokenizer(name_or_path: str) -> Any:
    """The shared tokenizer: BOS added, pad = EOS, right padding."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_only(name_or_path))
    except (OSError, ValueError) as err:
        if Path(name_or_path).is_dir():
            raise
        raise model_unavailable(name_or_path, err) from err
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def check_same_vocabulary(tok_a: Any, tok_b: Any) -> None:
    """theta and phi read the same token positions, so their vocabularies must be identical."""
    if tok_a.get_vocab() != tok_b.get_vocab():
        raise ValueError(
            "theta's and phi's tokenizers differ; Train-Attention weights would not line up with "
            "theta's tokens (use models sharing one tokenizer, e.g. Llama-2 and TinyLlama)"
        )

"""TAALM: Train-Attention-Augmented LM (NeurIPS 2024), spec ``specs/taalm.md``.

- :mod:`.loss`: the token-weighted loss L_w (target-side mask D8, known-token masking).
- :mod:`.adamw`: the differentiable, out-of-place AdamW of meta-training.
- :mod:`.model`: Train-Attention phi (causal-LM backbone + ``Linear(hidden, 1)`` head), LoRA.
- :mod:`.meta`: the per-sample meta-gradient (``torch.func.functional_call``, second order).
- :mod:`.validation`, :mod:`.meta_trainer`: validation with an immutable theta0, the outer loop,
  checkpoint selection, resume.
- :mod:`.checkpoint`, :mod:`.loading`: saving/loading phi, loading theta/phi backbones (QLoRA when
  possible, a clear error offline).
- :mod:`.ckl_method`: the shared base of the CKL baselines and TAALM deployment methods.
"""

from .adamw import AdamState, adamw_step
from .batching import MetaSample, TokenBatch, batch_docs, batch_probes, batch_tokens, pad_right
from .checkpoint import (
    freeze,
    load_train_attention,
    load_train_attention_weights,
    read_train_attention_meta,
    save_train_attention,
)
from .loading import (
    ModelUnavailableError,
    check_same_vocabulary,
    load_causal_lm,
    load_tokenizer,
    nf4_available,
    resolve_quantization,
)
from .loss import (
    deployment_weighted_loss,
    known_token_mask,
    phi_token_weights,
    target_mask,
    token_nll,
    weighted_lm_loss,
    weighted_sequence_loss,
)
from .meta import InnerConfig, call_logits, inner_steps, meta_gradient, meta_objective
from .meta_trainer import MetaTrainConfig, MetaTrainer, select_checkpoint
from .model import LLAMA_LORA_TARGETS, LoraSettings, TrainAttention, add_lora, load_lora_adapter
from .probe import object_scores
from .validation import (
    ValidationConfig,
    ValidationResult,
    probe_metrics,
    reset_theta,
    snapshot_theta0,
    validate,
)

__all__ = [
    "LLAMA_LORA_TARGETS",
    "AdamState",
    "InnerConfig",
    "LoraSettings",
    "MetaSample",
    "MetaTrainConfig",
    "MetaTrainer",
    "ModelUnavailableError",
    "TokenBatch",
    "TrainAttention",
    "ValidationConfig",
    "ValidationResult",
    "adamw_step",
    "add_lora",
    "batch_docs",
    "batch_probes",
    "batch_tokens",
    "call_logits",
    "check_same_vocabulary",
    "deployment_weighted_loss",
    "freeze",
    "inner_steps",
    "known_token_mask",
    "load_causal_lm",
    "load_lora_adapter",
    "load_tokenizer",
    "load_train_attention",
    "load_train_attention_weights",
    "meta_gradient",
    "meta_objective",
    "nf4_available",
    "object_scores",
    "pad_right",
    "phi_token_weights",
    "probe_metrics",
    "read_train_attention_meta",
    "reset_theta",
    "resolve_quantization",
    "save_train_attention",
    "select_checkpoint",
    "snapshot_theta0",
    "target_mask",
    "token_nll",
    "validate",
    "weighted_lm_loss",
    "weighted_sequence_loss",
]

"""Train-Attention phi: a causal-LM backbone with its LM head replaced by ``Linear(hidden, 1)``
(spec §2). The head gives a logit s_j per position; the token weight is sigmoid(s_j).

Head init (decision D9): weight ~ N(0, 0.001^2), bias = 4.0, so every weight starts near
sigmoid(4) = 0.982, close to plain fine-tuning. Trainable: the backbone's LoRA matrices (when LoRA
is asked for), the head weight and the head bias.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

#: q, k, v, o, gate, up, down of Llama-style blocks (not the LM head)
LLAMA_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class LoraSettings:
    """LoRA on the backbone (paper: r=64, alpha=16, dropout 0.1, no bias)."""

    r: int = 64
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] = LLAMA_LORA_TARGETS

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoraSettings:
        return cls(**{**d, "target_modules": tuple(d["target_modules"])})

    def peft_config(self, task_type: str | None = "CAUSAL_LM") -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            bias="none",
            target_modules=list(self.target_modules),
            task_type=task_type,
        )


def add_lora(model: nn.Module, settings: LoraSettings) -> nn.Module:
    """Freeze ``model`` and wrap it in a fresh peft LoRA (B = 0); only LoRA matrices train."""
    from peft import get_peft_model

    for p in model.parameters():
        p.requires_grad_(False)
    peft_model = get_peft_model(model, settings.peft_config())
    for name, p in peft_model.named_parameters():
        p.requires_grad_("lora_" in name)
    return peft_model


def load_lora_adapter(model: nn.Module, adapter: str) -> nn.Module:
    """Freeze ``model`` and load a published LoRA adapter (hub id or folder) as trainable."""
    from pathlib import Path

    from peft import PeftModel

    from .loading import model_unavailable

    for p in model.parameters():
        p.requires_grad_(False)
    try:
        peft_model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
    except (OSError, ValueError) as err:
        if Path(adapter).is_dir():
            raise
        raise model_unavailable(adapter, err) from err
    for name, p in peft_model.named_parameters():
        p.requires_grad_("lora_" in name)
    return peft_model


@dataclass
class TrainAttentionOutput:
    logits: torch.Tensor  # (B, L): one logit per position


class TrainAttention(nn.Module):
    """phi: ``backbone`` maps (input_ids, attention_mask) to hidden states (B, L, hidden)."""

    def __init__(
        self,
        backbone: nn.Module,
        hidden_size: int,
        *,
        head_std: float = 1e-3,
        head_bias: float = 4.0,
        head_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        device = next(backbone.parameters()).device
        self.head = nn.Linear(hidden_size, 1, bias=True, device=device, dtype=head_dtype)
        with torch.no_grad():
            self.head.weight.normal_(0.0, head_std)
            self.head.bias.fill_(head_bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> TrainAttentionOutput:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        logits = self.head(hidden.to(self.head.weight.dtype)).squeeze(-1)
        return TrainAttentionOutput(logits=logits)

    def token_weights(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """sigmoid(s)[:, 1:], aligned with the targets of the token-weighted loss."""
        return torch.sigmoid(self(input_ids, attention_mask).logits)[:, 1:]

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    @classmethod
    def from_causal_lm(
        cls,
        lm: nn.Module,
        *,
        lora: LoraSettings | None = None,
        adapter: str | None = None,
        train_backbone: bool = False,
        head_std: float = 1e-3,
        head_bias: float = 4.0,
    ) -> TrainAttention:
        """Build phi from a causal LM: its decoder (LM head dropped) becomes the backbone.

        lora: fresh LoRA on the backbone; adapter: load a published LoRA adapter instead.
        Without either, the backbone trains fully when ``train_backbone`` else stays frozen.
        """
        if lora is not None and adapter is not None:
            raise ValueError("give either lora (a fresh LoRA) or adapter (a published one)")
        hidden = lm.config.hidden_size
        if lora is not None:
            lm = add_lora(lm, lora).get_base_model()
        elif adapter is not None:
            lm = load_lora_adapter(lm, adapter).get_base_model()
        else:
            for p in lm.parameters():
                p.requires_grad_(train_backbone)
        backbone = lm.get_decoder()
        return cls(backbone, hidden, head_std=head_std, head_bias=head_bias)

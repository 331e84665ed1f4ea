"""K-Adapter for CKL (spec §9, decision D4): GPT-2-style blocks beside a frozen base LM.

The frozen base gives hidden states H_0 (embeddings) ... and H_last (the final-norm output).
Three blocks read H_1, H_15 and H_last: u_0 = 0, u_k = Block_k(H_{tap_k} + u_{k-1}); the logits
are the frozen LM head applied to H_last + 0.1 * LN_out(u_3). A block computes
a = x + Attn(LN1(x)) (causal, scaled by 1/sqrt(d_head), in fp32), then
out = Dropout(W_out GELU(W_in LN2(a))), with no residual around the MLP, as in the reference.
Linear weights ~ N(0, 0.02^2), zero biases, LayerNorm eps 1e-5. Only the blocks and LN_out train.
Nothing here fixes a device or a dtype: the adapter follows the base model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import register_method
from ..taalm.ckl_method import CklConfig, CklMethod


class KAdapterBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float, eps: float = 1e-5) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)
        self.fc_in = nn.Linear(hidden, 4 * hidden)
        self.fc_out = nn.Linear(4 * hidden, hidden)
        self.drop = nn.Dropout(dropout)
        for lin in (self.qkv, self.proj, self.fc_in, self.fc_out):
            nn.init.normal_(lin.weight, 0.0, 0.02)
            nn.init.zeros_(lin.bias)

    def attention(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(h // self.heads)
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
        allowed = causal[None, None] & key_mask[:, None, None, :].bool()
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        out = torch.softmax(scores, dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, h))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        a = x + self.attention(self.ln1(x), key_mask)
        return self.drop(self.fc_out(F.gelu(self.fc_in(self.ln2(a)))))


@dataclass
class KAdapterOutput:
    logits: torch.Tensor
    loss: torch.Tensor | None = None


class KAdapterLM(nn.Module):
    """A frozen causal LM with K-Adapter blocks; ``taps`` are the H indices the first blocks read
    (the last block always reads H_last)."""

    def __init__(
        self,
        base: nn.Module,
        taps: tuple[int, ...] = (1, 15),
        dropout: float = 0.9,
        scale: float = 0.1,
    ) -> None:
        super().__init__()
        cfg = base.config
        n_layers = cfg.num_hidden_layers
        for t in taps:
            if not 0 <= t < n_layers:
                raise ValueError(
                    f"tap H_{t} does not exist below the final norm ({n_layers} layers)"
                )
        for p in base.parameters():
            p.requires_grad_(False)
        self.base = base
        self.config = cfg
        self.taps = tuple(taps)
        self.scale = scale
        ref = next(base.parameters())
        hidden, heads = cfg.hidden_size, cfg.num_attention_heads
        blocks = [KAdapterBlock(hidden, heads, dropout) for _ in range(len(taps) + 1)]
        self.blocks = nn.ModuleList(blocks).to(device=ref.device, dtype=torch.float32)
        self.ln_out = nn.LayerNorm(hidden, eps=1e-5).to(device=ref.device, dtype=torch.float32)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any
    ) -> KAdapterOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        decoder = self.base.get_decoder()
        with torch.no_grad():
            out = decoder(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            )
        sources = [out.hidden_states[t] for t in self.taps] + [out.last_hidden_state]
        u = torch.zeros_like(out.last_hidden_state, dtype=torch.float32)
        for block, h in zip(self.blocks, sources):
            u = block(h.float() + u, attention_mask)
        mixed = out.last_hidden_state.float() + self.scale * self.ln_out(u)
        head = self.base.get_output_embeddings()
        return KAdapterOutput(logits=head(mixed.to(head.weight.dtype)))

    def adapter_parameters(self) -> list[nn.Parameter]:
        return list(self.blocks.parameters()) + list(self.ln_out.parameters())


@dataclass
class KAdapterConfig(CklConfig):
    """taps: H indices of the first blocks (paper: H_1, H_15); dropout: reference 0.9 (suspicious,
    kept as the default because the reported numbers used it); scale: 0.1."""

    taps: tuple[int, ...] = field(
        default=(1, 15),
        metadata={
            "help": "hidden states the blocks read (paper H_1, H_15; the last is always read)"
        },
    )
    dropout: float = field(default=0.9, metadata={"help": "block dropout (reference 0.9)"})
    scale: float = field(
        default=0.1,
        metadata={"help": "weight of the adapter output added to the last hidden state (0.1)"},
    )


@register_method("kadapter")
class KAdapter(CklMethod):
    config_class = KAdapterConfig

    def base_lora(self) -> bool:
        return False

    def prepare(self, model: nn.Module) -> nn.Module:
        if isinstance(model, KAdapterLM):
            return model
        cfg = self.config
        return KAdapterLM(model, taps=tuple(cfg.taps), dropout=cfg.dropout, scale=cfg.scale)

    def trainable_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        if not isinstance(model, KAdapterLM):
            raise TypeError("kadapter.prepare(model) must wrap the model before training")
        return model.adapter_parameters()

"""PCLL's data format and conditional-VAE modules (spec classic-methods.md 2.7).

Sequences, with p = ``<gen>In the current task, which intent category best describes: "``
(``<gen>`` = the tokenizer's BOS; DECISION: eos when it has none, as GPT-2's BOS is its eos):

- (a) ``p eos``                      -> the prior's input
- (b) ``p " x" eos``                 -> the posterior's input; reconstruction labels on ``" x" eos``
- (c) ``p " x "? Answer:``           -> the evaluation prompt
- (d) ``(c) " y" eos``               -> QA labels on ``" y" eos``; GEN labels on everything after
  ``<gen>``

Pieces are tokenised separately and concatenated; x loses tokens from its left when a row is too
long. (a), (b) and (d) are left-padded to one width so that one forward pass serves all three.

:class:`PCLLVAE`: attention-average pooling (w ~ N(0, 0.02^2), scores = GELU(H w), softmax over
positions; DECISION of the spec: pads get -inf, the reference added the 0/1 mask), linear d->d
heads for the prior and posterior mean and log-variance (N(0, 0.02^2) weights, zero bias, like
the reference's Conv1D), and the latent MLP d->d without bias; ``alpha_z * MLP(z)`` is added to
every input embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .batches import IGNORE, left_pad, position_ids

PROMPT = 'In the current task, which intent category best describes: "'
ANSWER_SPLIT = '"? Answer:'


@dataclass
class PCLLCollator:
    """Rows -> a PCLL batch: ``input_ids``/``attention_mask``/``position_ids`` of (d) with
    ``labels`` (QA) and ``gen_labels``; ``post_*`` of (b) with ``rec_labels``; ``prior_*`` of
    (a); ``is_pseudo``. ``generation_batch`` gives the prompts (c) and the gold targets."""

    tokenizer: Any
    max_length: int = 128

    def __post_init__(self) -> None:
        tok = self.tokenizer
        if tok.eos_token_id is None:
            raise ValueError(f"tokenizer {type(tok).__name__} has no eos token")
        self.eos_id = int(tok.eos_token_id)
        bos = getattr(tok, "bos_token_id", None)
        self.gen_id = int(bos) if bos is not None else self.eos_id
        self.prompt = [self.gen_id, *self.ids(PROMPT)]
        self.split = self.ids(" " + ANSWER_SPLIT)
        if len(self.prompt) + len(self.split) + 4 > self.max_length:
            raise ValueError(f"max_length {self.max_length} cannot hold PCLL's prompt")

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def source(self, x: str, budget: int) -> list[int]:
        ids = self.ids(" " + str(x))
        return ids[len(ids) - budget :] if len(ids) > budget else ids

    def encode(self, row: Any) -> dict[str, list[int]]:
        p, q, eos = self.prompt, self.split, self.eos_id
        answer = [*self.ids(" " + str(row["target"])), eos]
        answer = answer[-(self.max_length - len(p) - len(q) - 1) :]
        x = self.source(row["input"], self.max_length - len(p) - len(q) - len(answer))
        d = [*p, *x, *q, *answer]
        return {
            "a": [*p, eos],
            "b": [*p, *x, eos],
            "rec": [IGNORE] * len(p) + [*x, eos],
            "d": d,
            "qa": [IGNORE] * (len(d) - len(answer)) + answer,
            "gen": [IGNORE, *d[1:]],
        }

    def __call__(self, rows: Sequence[Any]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("PCLLCollator: empty batch")
        enc = [self.encode(r) for r in rows]
        width = max(len(e["d"]) for e in enc)
        out: dict[str, torch.Tensor] = {}
        for prefix, key in (("", "d"), ("post_", "b"), ("prior_", "a")):
            seqs = [e[key] for e in enc]
            mask = left_pad([[1] * len(s) for s in seqs], 0, width)
            out[prefix + "input_ids"] = left_pad(seqs, self.eos_id, width)
            out[prefix + "attention_mask"] = mask
            out[prefix + "position_ids"] = position_ids(mask)
        out["labels"] = left_pad([e["qa"] for e in enc], IGNORE, width)
        out["gen_labels"] = left_pad([e["gen"] for e in enc], IGNORE, width)
        out["rec_labels"] = left_pad([e["rec"] for e in enc], IGNORE, width)
        out["is_pseudo"] = torch.tensor([bool(r.get("is_pseudo", False)) for r in rows])
        return out

    def prompt_ids(self, x: str) -> list[int]:
        """(c): ``p " x "? Answer:``."""
        budget = self.max_length - len(self.prompt) - len(self.split) - 1
        return [*self.prompt, *self.source(x, budget), *self.split]

    def generation_batch(self, rows: Sequence[Any]) -> tuple[dict[str, torch.Tensor], list[str]]:
        ids = [self.prompt_ids(r["input"]) for r in rows]
        width = max(len(i) for i in ids)
        mask = left_pad([[1] * len(i) for i in ids], 0, width)
        inputs = {"input_ids": left_pad(ids, self.eos_id, width), "attention_mask": mask}
        return inputs, [str(r["target"]) for r in rows]


def _linear(d: int, bias: bool = True) -> nn.Linear:
    layer = nn.Linear(d, d, bias=bias)
    nn.init.normal_(layer.weight, std=0.02)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class PCLLVAE(nn.Module):
    """Pooling, prior/posterior Gaussian heads and the latent MLP of PCLL's conditional VAE."""

    def __init__(self, hidden: int, alpha_z: float = 0.1) -> None:
        super().__init__()
        self.attention = nn.Parameter(torch.randn(hidden) * 0.02)
        self.prior_mean, self.prior_logvar = _linear(hidden), _linear(hidden)
        self.post_mean, self.post_logvar = _linear(hidden), _linear(hidden)
        self.latent_mlp = _linear(hidden, bias=False)
        self.alpha_z = float(alpha_z)

    def pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention-average pooling over the attended positions of ``states`` (B, L, d)."""
        scores = F.gelu(states.float() @ self.attention.float())
        scores = scores.masked_fill(~mask.bool(), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return (weights.unsqueeze(-1) * states.float()).sum(1).to(states.dtype)

    def prior(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(states, mask)
        return self.prior_mean(pooled), self.prior_logvar(pooled)

    def posterior(self, states: torch.Tensor, mask: torch.Tensor):
        pooled = self.pool(states, mask)
        return self.post_mean(pooled), self.post_logvar(pooled)

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """``alpha_z * MLP(z)``: what is added to every input embedding."""
        return self.alpha_z * self.latent_mlp(z)


def sample_z(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A reparameterised draw ``mean + eps * exp(logvar / 2)``."""
    return mean + torch.randn_like(mean) * (0.5 * logvar).exp()


def gaussian_kl(
    mean_q: torch.Tensor, logvar_q: torch.Tensor, mean_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """Closed-form KL(q || p) of diagonal Gaussians, summed over dimensions, one value per row."""
    ratio = (logvar_q - logvar_p).exp()
    return 0.5 * (logvar_p - logvar_q + ratio + (mean_q - mean_p).pow(2) / logvar_p.exp() - 1).sum(
        -1
    )


def beta_schedule(step: int, total_steps: int, ratio: float = 0.9) -> float:
    """beta rises linearly 0 -> 1 over the first ``ratio`` of a task's steps, then stays 1."""
    ramp = float(ratio) * max(int(total_steps), 1)
    return min(1.0, int(step) / ramp)

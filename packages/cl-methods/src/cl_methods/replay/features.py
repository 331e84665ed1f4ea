"""Default post-task features for herding.

- A model with a ``features(input_ids, attention_mask, ...)`` method (a backbone + heads model,
  e.g. ``cl_methods.classic.ClassifierModel``) is asked for its own features.
- Otherwise: the last layer's state at each row's last real token (the generative feature of
  spec 1); seq2seq models use their encoder's state.

Other choices go through ``Replay.features``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


@torch.no_grad()
def last_token_features(
    model: nn.Module,
    examples: Sequence[Any],
    collate: Callable[[list[Any]], dict[str, Any]],
    batch_size: int = 16,
) -> torch.Tensor:
    """(n, d) features of ``examples``, computed in eval mode without gradients."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows: list[torch.Tensor] = []
    try:
        for start in range(0, len(examples), batch_size):
            batch = collate(list(examples[start : start + batch_size]))
            inputs = {k: v.to(device) for k, v in batch.items() if k in INPUT_KEYS}
            is_seq2seq = getattr(getattr(model, "config", None), "is_encoder_decoder", False)
            own = getattr(model, "features", None)
            if callable(own):
                rows.append(own(**inputs).float().cpu())
                continue
            if is_seq2seq:
                states = model.get_encoder()(**inputs).last_hidden_state
            else:
                states = model(**inputs, output_hidden_states=True).hidden_states[-1]
            mask = inputs.get("attention_mask")
            if mask is None:
                last = torch.full((states.shape[0],), states.shape[1] - 1, device=device)
            else:  # index of the last attended position (left or right padding)
                positions = torch.arange(mask.shape[1], device=device).expand_as(mask)
                last = torch.where(mask.bool(), positions, -1).max(dim=1).values
            rows.append(states[torch.arange(states.shape[0], device=device), last].float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(rows, dim=0)

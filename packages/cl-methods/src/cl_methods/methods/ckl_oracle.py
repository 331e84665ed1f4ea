"""CKL oracle: w = 1 on the object's prediction indices in the evidence, 0 elsewhere (spec §9).

The batch must carry ``object_mask`` (B, L-1), built with cl-data's object finder
(``cl_data.ckl.object_target_mask``) on the evidence tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_method
from ..taalm.ckl_method import Batch, CklConfig, CklMethod, batch_ids_and_mask


@register_method("ckl_oracle")
class CklOracle(CklMethod):
    config_class = CklConfig

    def needs_object_mask(self) -> bool:
        return True

    def token_weights(self, batch: Batch, model: nn.Module) -> torch.Tensor:
        if "object_mask" not in batch:
            raise KeyError(
                "the oracle needs batch['object_mask'] (B, L-1): 1 on the object's prediction "
                "indices in the evidence (cl_data.ckl.object_target_mask)"
            )
        ids, _ = batch_ids_and_mask(batch)
        weights = batch["object_mask"]
        if weights.shape != (ids.shape[0], ids.shape[1] - 1):
            raise ValueError(
                f"object_mask has shape {tuple(weights.shape)}, expected "
                f"{(ids.shape[0], ids.shape[1] - 1)}"
            )
        return weights.float()

"""CKL finetune baseline: L_w with w = 1 (decision D10: per-sequence mean over real targets,
no pad terms), trained with the trainer's AdamW (lr 1e-4, wd 0.01 in the paper's runs)."""

from __future__ import annotations

from ..registry import register_method
from ..taalm.ckl_method import CklConfig, CklMethod


@register_method("ckl_finetune")
class CklFinetune(CklMethod):
    config_class = CklConfig

"""Generative replay in LAMOL's format (spec classic-methods.md 2.4-2.8), shared by LAMOL (g/t),
LAMOL_KD, L2KD and LFPT5: special tokens (:mod:`.tokens`), QA/GEN batches (:mod:`.batches`),
pseudo-sample sampling and parsing (:mod:`.pseudo`), LM and KD losses (:mod:`.losses`) and the
component a method holds (:mod:`.component`)."""

from .batches import IGNORE, LamolCollator, left_pad, position_ids
from .component import GenerativeReplay, GenerativeReplayOptions, sample_seed
from .losses import kd_loss, lm_loss, qa_gen_logits, supervised_positions
from .pseudo import (
    PseudoStats,
    Sampling,
    cut_at_eos,
    generate_samples,
    lamol_parser,
    parse_lamol,
    split_counts,
    split_text_once,
)
from .tokens import (
    ANS_TOKEN,
    SHARED_GEN_TOKEN,
    LamolTokens,
    embedding_matrices,
    install_tokens,
    resize_with_mean,
    task_gen_token,
)

__all__ = [
    "ANS_TOKEN",
    "IGNORE",
    "SHARED_GEN_TOKEN",
    "GenerativeReplay",
    "GenerativeReplayOptions",
    "LamolCollator",
    "LamolTokens",
    "PseudoStats",
    "Sampling",
    "cut_at_eos",
    "embedding_matrices",
    "generate_samples",
    "install_tokens",
    "kd_loss",
    "lamol_parser",
    "left_pad",
    "lm_loss",
    "parse_lamol",
    "position_ids",
    "qa_gen_logits",
    "resize_with_mean",
    "sample_seed",
    "split_counts",
    "split_text_once",
    "supervised_positions",
    "task_gen_token",
]

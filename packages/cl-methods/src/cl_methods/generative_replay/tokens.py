"""LAMOL's special tokens (spec classic-methods.md 2.4): the answer token ``__ans__`` and the
generation token(s), ``__gen__`` shared by every task (LAMOL_g) or ``__<j>__`` per task j
(LAMOL_t, LAMOL_KD, L2KD, LFPT5).

DECISION (spec 2.4): the tokens are added to the tokenizer as special tokens (so they are never
split, and decoding with ``skip_special_tokens=True`` drops them), the embedding matrix is resized
to exactly ``len(tokenizer)`` rows, and every new row (input embedding, and the output embedding
when it is not tied) is set to the mean of the other rows. The classic codebase never resized; it
only worked because Pythia pads its embedding matrix. Every per-task token of the stream is added
up front (the stream length is known from ``RunInfo``), so the embedding shape is fixed for the
whole run and checkpoints of any task load into the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

ANS_TOKEN = "__ans__"
SHARED_GEN_TOKEN = "__gen__"


def task_gen_token(index: int) -> str:
    """The generation token of task ``index`` (0-based), as the classic codebase spells it."""
    return f"__{int(index)}__"


@dataclass(frozen=True)
class LamolTokens:
    """The strings and ids of the answer token and the generation tokens of a run."""

    ans: str
    gen: tuple[str, ...]
    ans_id: int
    gen_ids: tuple[int, ...]
    per_task: bool

    def gen_id(self, task_index: int) -> int:
        """The generation token id that task ``task_index``'s GEN sequences start with."""
        if not self.per_task:
            return self.gen_ids[0]
        if not 0 <= task_index < len(self.gen_ids):
            raise IndexError(f"no generation token for task {task_index} ({len(self.gen_ids)})")
        return self.gen_ids[task_index]

    @property
    def all_ids(self) -> tuple[int, ...]:
        return (self.ans_id, *self.gen_ids)


def install_tokens(tokenizer: Any, num_tasks: int, per_task: bool) -> LamolTokens:
    """Add ``__ans__`` and the generation token(s) to ``tokenizer`` as special tokens (those it
    already has are kept) and return their ids."""
    gen = tuple(task_gen_token(j) for j in range(num_tasks)) if per_task else (SHARED_GEN_TOKEN,)
    strings = (ANS_TOKEN, *gen)
    vocab = tokenizer.get_vocab()
    missing = [s for s in strings if s not in vocab]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(list(strings))
    unk = getattr(tokenizer, "unk_token_id", None)
    for s, i in zip(strings, ids, strict=True):
        if i is None or (unk is not None and i == unk):
            raise ValueError(f"tokenizer {type(tokenizer).__name__} could not add token {s!r}")
        if len(tokenizer(s, add_special_tokens=False)["input_ids"]) != 1:
            raise ValueError(f"token {s!r} is split by {type(tokenizer).__name__}")
    return LamolTokens(ANS_TOKEN, gen, int(ids[0]), tuple(int(i) for i in ids[1:]), per_task)


def embedding_matrices(model: nn.Module) -> list[nn.Parameter]:
    """The input embedding matrix of ``model`` and, when it is not tied to it, the output one
    (the matrices whose special-token rows :func:`resize_with_mean` sets; LFPT5 trains those
    rows alone by masking the other rows' gradients)."""
    matrices = [model.get_input_embeddings().weight]
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != matrices[0].data_ptr():
        matrices.append(out.weight)
    return matrices


@torch.no_grad()
def resize_with_mean(model: nn.Module, vocab_size: int, new_ids: tuple[int, ...]) -> None:
    """Resize ``model``'s token embeddings to ``vocab_size`` rows and set the rows of ``new_ids``
    (input and, when untied, output embeddings) to the mean of the other rows."""
    old = model.get_input_embeddings().weight.shape[0]
    if old != vocab_size:
        model.resize_token_embeddings(vocab_size, mean_resizing=False)
    new = sorted(set(int(i) for i in new_ids))
    if any(i >= vocab_size for i in new):
        raise ValueError(f"token ids {new} do not fit a vocabulary of {vocab_size}")
    for weight in embedding_matrices(model):
        keep = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
        keep[new] = False
        keep[min(old, weight.shape[0]) :] = False  # rows added by the resize are not "other rows"
        weight[new] = weight[keep].float().mean(0).to(weight.dtype)

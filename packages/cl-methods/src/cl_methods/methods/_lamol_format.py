"""The minimal LAMOL-format pieces LFPT5 needs (spec classic-methods.md 2.4, 2.8).

TEMPORARY HOME: the LAMOL family's shared module (``cl_methods.generative_replay`` on the
``lamol`` branch) holds the same pieces; once both branches are merged, LFPT5 should import the
shared ones and this file should go. The names and batch keys follow that module's:

- tokens: ``__ans__`` and one generation token ``__<j>__`` per task, added to the tokenizer as
  special tokens; the embeddings are resized to ``len(tokenizer)`` rows and every new row
  (input, and output when untied) is the mean of the old rows (spec 2.4 DECISION);
- batches (:class:`LamolFormat`): QA ``x ANS " y" eos`` (labels on ``" y" eos``) and GEN
  ``G_j x ANS " y" eos`` (labels on everything after ``G_j``) as ``input_ids`` /
  ``attention_mask`` / ``position_ids`` / ``labels`` and the same with a ``gen_`` prefix, left
  padded with eos to one width; ``is_pseudo`` per row; evaluation prompts ``x ANS``;
- pseudo samples (:func:`generate_pseudo_rows`): batched ``generate`` from ``G_j`` with top-k
  sampling under a fixed seed (the global RNG is left untouched), parsed by
  :func:`parse_pseudo`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

ANS_TOKEN = "__ans__"
IGNORE = -100


def task_gen_token(index: int) -> str:
    return f"__{int(index)}__"


@dataclass(frozen=True)
class LamolTokens:
    ans_id: int
    gen_ids: tuple[int, ...]

    @property
    def all_ids(self) -> tuple[int, ...]:
        return (self.ans_id, *self.gen_ids)


def install_tokens(tokenizer: Any, num_tasks: int) -> LamolTokens:
    """Add ``__ans__`` and ``__0__ .. __<T-1>__`` as special tokens (kept when present)."""
    strings = [ANS_TOKEN, *(task_gen_token(j) for j in range(num_tasks))]
    vocab = tokenizer.get_vocab()
    missing = [s for s in strings if s not in vocab]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    ids = [int(i) for i in tokenizer.convert_tokens_to_ids(strings)]
    for s, i in zip(strings, ids, strict=True):
        if len(tokenizer(s, add_special_tokens=False)["input_ids"]) != 1:
            raise ValueError(f"tokenizer {type(tokenizer).__name__} splits the token {s!r}")
        if i == getattr(tokenizer, "unk_token_id", None):
            raise ValueError(f"tokenizer {type(tokenizer).__name__} could not add {s!r}")
    return LamolTokens(ids[0], tuple(ids[1:]))


def embedding_matrices(model: nn.Module) -> list[nn.Parameter]:
    """The input embedding matrix and, when not tied to it, the output one."""
    out = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight is not out[0]:
        out.append(head.weight)
    return out


@torch.no_grad()
def resize_with_mean(model: nn.Module, vocab_size: int, new_ids: Sequence[int]) -> None:
    """Resize to ``vocab_size`` rows; the rows of ``new_ids`` become the mean of the old rows."""
    old = model.get_input_embeddings().weight.shape[0]
    if old != vocab_size:
        model.resize_token_embeddings(vocab_size, mean_resizing=False)
    new = sorted({int(i) for i in new_ids})
    for weight in embedding_matrices(model):
        keep = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
        keep[new] = False
        keep[min(old, weight.shape[0]) :] = False
        weight[new] = weight[keep].float().mean(0).to(weight.dtype)


def _left_pad(seqs: Sequence[list[int]], value: int, width: int) -> torch.Tensor:
    return torch.tensor([[value] * (width - len(s)) + list(s) for s in seqs], dtype=torch.long)


@dataclass
class LamolFormat:
    """Rows (``input``, ``target``, optional ``gen_task`` and ``is_pseudo``) -> QA + GEN batch."""

    tokenizer: Any
    tokens: LamolTokens
    max_length: int = 128

    def __post_init__(self) -> None:
        if self.tokenizer.eos_token_id is None:
            raise ValueError(f"tokenizer {type(self.tokenizer).__name__} has no eos token")
        if self.max_length < 4:
            raise ValueError(f"max_length must be >= 4, got {self.max_length}")
        self.eos_id = int(self.tokenizer.eos_token_id)

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, row: Any) -> tuple[list[int], list[int], list[int], list[int]]:
        """QA ids, QA labels, GEN ids, GEN labels; x loses tokens from its left when too long."""
        answer = [*self.ids(" " + str(row["target"])), self.eos_id][-(self.max_length - 3) :]
        x = self.ids(str(row["input"]))
        budget = self.max_length - len(answer) - 2
        x = x[len(x) - budget :] if len(x) > budget else x
        qa = [*x, self.tokens.ans_id, *answer]
        gen_id = self.tokens.gen_ids[int(row.get("gen_task") or 0)]
        return qa, [IGNORE] * (len(x) + 1) + answer, [gen_id, *qa], [IGNORE, *qa]

    def __call__(self, rows: Sequence[Any]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("LamolFormat: empty batch")
        enc = [self.encode(r) for r in rows]
        width = max(len(e[2]) for e in enc)
        batch: dict[str, torch.Tensor] = {}
        for prefix, k in (("", 0), ("gen_", 2)):
            seqs = [e[k] for e in enc]
            mask = _left_pad([[1] * len(s) for s in seqs], 0, width)
            batch[prefix + "input_ids"] = _left_pad(seqs, self.eos_id, width)
            batch[prefix + "attention_mask"] = mask
            batch[prefix + "position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
            batch[prefix + "labels"] = _left_pad([e[k + 1] for e in enc], IGNORE, width)
        batch["is_pseudo"] = torch.tensor([bool(r.get("is_pseudo", False)) for r in rows])
        return batch

    def generation_batch(self, rows: Sequence[Any]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Left-padded evaluation prompts ``x ANS`` and the gold targets."""
        ids = []
        for r in rows:
            x = self.ids(str(r["input"]))[-(self.max_length - 1) :]
            ids.append([*x, self.tokens.ans_id])
        width = max(len(i) for i in ids)
        mask = _left_pad([[1] * len(i) for i in ids], 0, width)
        return (
            {"input_ids": _left_pad(ids, self.eos_id, width), "attention_mask": mask},
            [str(r["target"]) for r in rows],
        )


def parse_pseudo(
    ids: Sequence[int], ans_id: int, eos_id: int, tokenizer: Any
) -> tuple[str, str] | None:
    """A generated continuation of ``G_j`` -> ``(x, y)``: cut at the first eos (a missing eos
    keeps everything), keep it only with exactly one ANS and a non-empty x and y."""
    ids = [int(i) for i in ids]
    if eos_id in ids:
        ids = ids[: ids.index(eos_id)]
    if ids.count(ans_id) != 1:
        return None
    k = ids.index(ans_id)
    x = tokenizer.decode(ids[:k], skip_special_tokens=True).strip()
    y = tokenizer.decode(ids[k + 1 :], skip_special_tokens=True).strip()
    return (x, y) if x and y else None


@torch.no_grad()
def generate_pseudo_rows(
    model: nn.Module,
    tokenizer: Any,
    tokens: LamolTokens,
    task: int,
    count: int,
    *,
    max_length: int,
    top_k: int = 20,
    batch_size: int = 8,
    seed: int = 1,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """``count`` sampling attempts from ``G_task`` in batches (top-k, temperature 1, at most
    ``max_length - 1`` new tokens), seeded by ``seed`` without touching the global RNG; returns
    the parsed rows (``is_pseudo``, ``gen_task``) and ``{requested, kept, seconds}``."""
    eos = int(tokenizer.eos_token_id)
    device = model.get_input_embeddings().weight.device
    rows: list[dict[str, Any]] = []
    started = time.time()
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            starts = range(0, count, batch_size)
            bar = tqdm(starts, desc=f"pseudo samples of task {task}", disable=not progress)
            for start in bar:
                n = min(batch_size, count - start)
                prompt = torch.full((n, 1), tokens.gen_ids[task], dtype=torch.long, device=device)
                out = model.generate(
                    input_ids=prompt,
                    attention_mask=torch.ones_like(prompt),
                    do_sample=True,
                    top_k=top_k,
                    temperature=1.0,
                    max_new_tokens=max(max_length - 1, 1),
                    pad_token_id=eos,
                    eos_token_id=eos,
                )
                for seq in out[:, 1:].tolist():
                    parsed = parse_pseudo(seq, tokens.ans_id, eos, tokenizer)
                    if parsed is not None:
                        x, y = parsed
                        rows.append({"input": x, "target": y, "gen_task": task, "is_pseudo": True})
    finally:
        model.train(was_training)
    stats = {"requested": float(count), "kept": float(len(rows)), "seconds": time.time() - started}
    return rows, stats

"""Pseudo samples of earlier tasks (spec classic-methods.md 2.4): sampling, parsing, counting.

:func:`generate_samples` runs ``model.generate`` in batches from one prompt (LAMOL: a generation
token; PCLL: its task prompt), with top-k / top-p sampling under a private seed (the global RNG is
left as it was, so a run is reproducible whether or not generation happened), and a progress bar.
:func:`parse_lamol` turns one sampled continuation into ``(x, y)``:

- the continuation is cut at its first eos (``generate`` pads finished rows with eos);
- it must hold exactly one ``__ans__`` id (zero or two: discarded, reason ``"ans_count"``);
- x = the text before it, y = the text after it, decoded without special tokens and stripped;
  an empty x or y is discarded (``"empty"``);
- a continuation that never produced eos (it ran into the length limit) is kept, as in the spec
  and the codebase, and counted as ``truncated``.

:func:`split_counts` gives each old task its ``floor(N / t)`` share (spec 2.4).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

Parsed = tuple[str, str]
#: a parser returns (x, y), or the reason the sample is discarded
Parser = Callable[[list[int]], "Parsed | str"]


@dataclass
class Sampling:
    """Sampling settings of pseudo-sample generation (LAMOL: top-k 20, temperature 1)."""

    top_k: int = 20
    top_p: float = 1.0
    temperature: float = 1.0
    batch_size: int = 8


@dataclass
class PseudoStats:
    """What one generation produced: requested, kept, discarded by reason, truncated (no eos)."""

    requested: int = 0
    kept: int = 0
    discarded: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    seconds: float = 0.0

    def __add__(self, other: PseudoStats) -> PseudoStats:
        """The totals of two generations (e.g. over the old tasks of one task's pseudo set)."""
        discarded = Counter(self.discarded) + Counter(other.discarded)
        return PseudoStats(
            requested=self.requested + other.requested,
            kept=self.kept + other.kept,
            discarded=dict(sorted(discarded.items())),
            truncated=self.truncated + other.truncated,
            seconds=self.seconds + other.seconds,
        )

    @property
    def discard_rate(self) -> float:
        return 1.0 - self.kept / self.requested if self.requested else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "kept": self.kept,
            "discarded": dict(self.discarded),
            "truncated": self.truncated,
            "seconds": round(self.seconds, 3),
            "discard_rate": round(self.discard_rate, 4),
        }


def split_counts(total: int, old_tasks: int) -> list[int]:
    """``floor(total / t)`` samples for each of the ``t`` old tasks."""
    if old_tasks <= 0:
        return []
    return [int(total) // int(old_tasks)] * int(old_tasks)


def cut_at_eos(ids: Sequence[int], eos_id: int) -> tuple[list[int], bool]:
    """(ids before the first eos, whether an eos was found)."""
    ids = [int(i) for i in ids]
    if eos_id in ids:
        return ids[: ids.index(eos_id)], True
    return ids, False


def parse_lamol(
    ids: Sequence[int], ans_id: int, eos_id: int, decode: Callable[[list[int]], str]
) -> Parsed | str:
    """``(x, y)`` from a sampled continuation ``x ANS " y" eos``, or the reason for discarding."""
    body, _ = cut_at_eos(ids, eos_id)
    if body.count(ans_id) != 1:
        return "ans_count"
    k = body.index(ans_id)
    x, y = decode(body[:k]).strip(), decode(body[k + 1 :]).strip()
    if not x or not y:
        return "empty"
    return x, y


def lamol_parser(tokenizer: Any, ans_id: int, eos_id: int) -> Parser:
    """:func:`parse_lamol` bound to ``tokenizer`` (decoded without special tokens)."""

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=True)

    def parse(ids: list[int]) -> Parsed | str:
        return parse_lamol(ids, ans_id, eos_id, decode)

    return parse


def split_text_once(text: str, separator: str) -> Parsed | str:
    """``(before, after)`` when ``separator`` occurs exactly once in ``text`` (PCLL parses on
    ``"? Answer:``), else ``"separator_count"``; empty halves give ``"empty"``."""
    if text.count(separator) != 1:
        return "separator_count"
    x, y = (part.strip() for part in text.split(separator))
    if not x or not y:
        return "empty"
    return x, y


@torch.no_grad()
def generate_samples(
    model: nn.Module,
    prompt: Sequence[int],
    count: int,
    parse: Parser,
    *,
    max_length: int,
    eos_id: int,
    sampling: Sampling,
    seed: int,
    desc: str = "pseudo samples",
    progress: bool = True,
    generate_kwargs: dict[str, Any] | None = None,
) -> tuple[list[Parsed], PseudoStats]:
    """Sample ``count`` continuations of ``prompt`` in batches and parse them.

    ``max_new_tokens = max_length - len(prompt)``; eos pads finished rows. The draws depend only
    on ``seed`` (and the weights): the global RNG state is saved and restored around them.
    ``model`` is anything with ``generate`` and parameters: a ``*ForCausalLM`` or a wrapper that
    generates through one (a prompt-tuned LM, or a view that selects one task's prompt, as LFPT5
    passes); it runs in eval mode and every module in it gets its own training flag back."""
    import time

    started = time.time()
    prompt = [int(i) for i in prompt]
    max_new = int(max_length) - len(prompt)
    if max_new < 1:
        raise ValueError(f"prompt of {len(prompt)} tokens leaves no room under max_length")
    device = next(model.parameters()).device
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    stats, kept = PseudoStats(requested=int(count)), []
    reasons: Counter[str] = Counter()
    devices = [device] if device.type == "cuda" else []
    sizes = [min(sampling.batch_size, count - s) for s in range(0, count, sampling.batch_size)]
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            for n in tqdm(sizes, desc=desc, disable=not progress, leave=False):
                input_ids = torch.tensor([prompt] * n, dtype=torch.long, device=device)
                out = model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    do_sample=True,
                    top_k=sampling.top_k,
                    top_p=sampling.top_p,
                    temperature=sampling.temperature,
                    max_new_tokens=max_new,
                    pad_token_id=eos_id,
                    eos_token_id=eos_id,
                    **(generate_kwargs or {}),
                )
                for row in out[:, len(prompt) :].tolist():
                    if eos_id not in row:
                        stats.truncated += 1
                    parsed = parse(row)
                    if isinstance(parsed, str):
                        reasons[parsed] += 1
                    else:
                        kept.append(parsed)
    finally:
        for module, mode in modes:
            module.training = mode
    stats.kept, stats.discarded = len(kept), dict(sorted(reasons.items()))
    stats.seconds = time.time() - started
    return kept, stats

"""Exact match with the benchmark's answer normalisation.

Modes of ``normalise``:

- ``"default"`` (the benchmark spec): lowercase, remove every ``string.punctuation`` character,
  collapse runs of whitespace to one space and strip. Articles are kept.
- ``"lower"`` (Recurrent-KIF): lowercase and strip surrounding whitespace, nothing else.
- ``"none"``: compare the strings as they are.

``strip_tokens`` lists special-token strings (e.g. ``"</s>"``, ``"<pad>"``) removed from both
strings before normalising, wherever they occur; this runs first, so the punctuation removal of
``"default"`` never turns ``"</s>"`` into a stray ``"s"``.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import Literal

NormaliseMode = Literal["default", "lower", "none"]
NORMALISE_MODES: tuple[str, ...] = ("default", "lower", "none")
T5_SPECIAL_TOKENS: tuple[str, ...] = ("</s>", "<pad>")

_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)


def normalise_answer(
    text: str, mode: NormaliseMode = "default", strip_tokens: Iterable[str] = ()
) -> str:
    """Return ``text`` normalised for exact match (see the module docstring for the modes)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a string to normalise, got {type(text).__name__}: {text!r}")
    for token in strip_tokens:
        if token:
            text = text.replace(token, "")
    if mode == "default":
        return " ".join(text.lower().translate(_PUNCTUATION_TABLE).split())
    if mode == "lower":
        return text.lower().strip()
    if mode == "none":
        return text
    raise ValueError(f"normalise must be one of {', '.join(NORMALISE_MODES)}, got {mode!r}")


def exact_match(
    prediction: str,
    gold: str,
    *,
    normalise: NormaliseMode = "default",
    strip_tokens: Iterable[str] = (),
) -> bool:
    """True when ``prediction`` and ``gold`` are equal after normalisation."""
    tokens = tuple(strip_tokens)
    return normalise_answer(prediction, normalise, tokens) == normalise_answer(
        gold, normalise, tokens
    )


def count_exact_matches(
    predictions: Sequence[str],
    golds: Sequence[str],
    *,
    normalise: NormaliseMode = "default",
    strip_tokens: Iterable[str] = (),
) -> tuple[int, int]:
    """Return ``(correct, total)`` over paired predictions and golds."""
    if len(predictions) != len(golds):
        raise ValueError(
            f"predictions and golds differ in length: {len(predictions)} != {len(golds)}"
        )
    tokens = tuple(strip_tokens)
    correct = 0
    for index, (pred, gold) in enumerate(zip(predictions, golds)):
        try:
            correct += exact_match(pred, gold, normalise=normalise, strip_tokens=tokens)
        except TypeError as err:
            raise TypeError(f"example {index}: {err}") from None
    return correct, len(golds)


def exact_match_score(
    predictions: Sequence[str],
    golds: Sequence[str],
    *,
    normalise: NormaliseMode = "default",
    strip_tokens: Iterable[str] = (),
    scale: float = 100.0,
) -> float:
    """``scale * mean(prediction == gold)`` after normalisation (100 gives a percentage)."""
    correct, total = count_exact_matches(
        predictions, golds, normalise=normalise, strip_tokens=strip_tokens
    )
    if total == 0:
        raise ValueError("exact match of an empty set of examples is undefined")
    return scale * correct / total

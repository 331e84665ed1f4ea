import pytest

from cl_eval import (
    T5_SPECIAL_TOKENS,
    count_exact_matches,
    exact_match,
    exact_match_score,
    normalise_answer,
)


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("The Answer!", "the answer", True),
        ("answer", "the answer", False),  # articles are kept
        ("  Very   positive\n", "very positive", True),
        ("Science or Technology.", "science or technology", True),
        ("U.S.", "US", True),
        ("a", "an", False),
        ("!!!", "", True),
        ("positive\u2026", "positive", False),  # only ASCII string.punctuation is removed
        ("Positive </s>", "positive", False),  # '</s>' becomes a stray 's' unless stripped
    ],
)
def test_default_normalisation(pred, gold, expected):
    assert exact_match(pred, gold) is expected


def test_default_normalised_form():
    assert normalise_answer("  Hello,   World!\tIt's   me. ") == "hello world its me"


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        (" Positive ", "positive", True),
        ("Positive.", "positive", False),
        ("very  positive", "very positive", False),
        ("ENTAILMENT\n", "entailment", True),
    ],
)
def test_lower_normalisation(pred, gold, expected):
    assert exact_match(pred, gold, normalise="lower") is expected


def test_none_normalisation():
    assert not exact_match("Positive", "positive", normalise="none")
    assert not exact_match("positive ", "positive", normalise="none")
    assert exact_match("positive", "positive", normalise="none")


def test_strip_special_tokens_kif_case():
    assert exact_match("Positive </s>", "positive", normalise="lower", strip_tokens=["</s>"])
    assert not exact_match("Positive </s>", "positive", normalise="lower")
    assert exact_match(
        "<pad> Very positive</s><pad>", "very positive", strip_tokens=T5_SPECIAL_TOKENS
    )
    assert exact_match("Positive</s>", "Positive", normalise="none", strip_tokens=["</s>"])


def test_scores_and_counts():
    preds = ["World", "sports", "Business!", "Tech"]
    golds = ["world", "Sports", "business", "Science or Technology"]
    assert count_exact_matches(preds, golds) == (3, 4)
    assert exact_match_score(preds, golds) == 75.0
    assert exact_match_score(preds, golds, scale=1.0) == 0.75
    assert exact_match_score(preds, golds, normalise="none") == 0.0


def test_score_errors():
    with pytest.raises(ValueError, match="differ in length"):
        exact_match_score(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        exact_match_score([], [])
    with pytest.raises(TypeError, match="example 1"):
        count_exact_matches(["a", None], ["a", "b"])
    with pytest.raises(ValueError, match="normalise must be one of"):
        normalise_answer("x", "upper")

"""ICL: demonstration choice (random, same concept, same instance) and a run that trains
nothing (``Method.trains`` False) but evaluates in the usual format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from classic_tiny import tasks, tiny_llama, trainer

from cl_methods import GenerationEvaluator, build_method

POOL = [
    {"input": f"q{i}", "target": f"a{i}", "concept_id": i % 3, "instance_id": i // 2}
    for i in range(12)
]


def test_demonstrations_follow_the_selection() -> None:
    query = {"input": "test", "target": "x", "concept_id": 1, "instance_id": 2}
    for selection, allowed in (
        ("random", {r["input"] for r in POOL}),
        ("same_concept", {r["input"] for r in POOL if r["concept_id"] == 1}),
        ("same_instance", {"q4", "q5"}),
    ):
        method = build_method("icl", {"num_demos": 5, "selection": selection})
        method.add_demonstrations(POOL)
        [row] = method.eval_examples("t", [query])
        inputs = [d["input"] for d in row["demos"]]
        assert set(inputs) <= allowed and len(set(inputs)) == len(inputs)
        assert len(inputs) == min(5, len(allowed))  # a small group gives all it has
        assert row["input"] == "test" and "demos" not in query  # a copy, never in place
        assert method.eval_examples("t", [query]) == [row]  # deterministic
    one = build_method("icl", {"num_demos": 1})
    one.add_demonstrations(POOL)
    rows = one.eval_examples("t", [query] * 30)
    assert all(len(r["demos"]) == 1 for r in rows)
    assert len({r["demos"][0]["input"] for r in rows}) > 3  # drawn per row position
    with pytest.raises(ValueError, match="num_demos"):
        build_method("icl", {"num_demos": 0})


def test_icl_trains_nothing_and_evaluates_with_demonstrations(tmp_path: Path) -> None:
    method = build_method("icl", {"selection": "random", "instance_key": "none"})
    seen = []

    def make_batch(rows):
        seen.extend(rows)
        ids = torch.tensor([[1, 3] for _ in rows])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, ["x"] * len(rows)

    class Tok:
        pad_token_id, eos_token_id = 0, 2

        def batch_decode(self, ids, skip_special_tokens=True):
            return ["\n x \n y" for _ in ids]

    evaluate = GenerationEvaluator(
        Tok(), make_batch, match=lambda p, g: p == g, max_new_tokens=2, progress=False,
        examples_attr="train", prepare=method.eval_examples, stop=method.eval_stop,
    )  # fmt: skip
    stream = tasks(4)
    for task in stream:
        for row in task.train:
            row["input"], row["target"] = str(row["ids"]), "x"
    model = tiny_llama()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = trainer(model, method, tmp_path, evaluate).fit(stream)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [s["steps"] for s in result.train_stats] == [0, 0]
    assert seen and all(len(r["demos"]) == 1 for r in seen)
    assert len(method.pool) == 8  # both tasks' rows joined the pool
    # the answer is cut at the first newline after leading ones: "x" matches the gold
    assert result.matrix[0][0] == 100.0

"""N-LoRA's hyperparameter tables (apps/tables/nlora.py) against the spec."""

import pytest
from tables.nlora import nlora_batch, nlora_task_params

from cl_data import order_tasks


@pytest.mark.parametrize(
    ("order", "batch", "lr", "lam"),
    [(1, 48, 1e-3, 0.4), (2, 32, 1e-3, 0.4), (3, 32, 1e-3, 0.4), (5, 32, 8e-4, 0.55),
     (6, 32, 1e-3, 1.8)],
)  # fmt: skip
def test_t5_rows(order, batch, lr, lam):
    names = list(order_tasks(order))
    params = nlora_task_params(order, names, causal_lm=False)
    assert params == [{"lr": lr, "epochs": 10, "lambda_1": lam}] * len(names)
    assert nlora_batch(order, causal_lm=False) == (batch, batch)  # 1 GPU, no accumulation


def test_order_4_lambdas_per_task():
    names = list(order_tasks(4))
    params = dict(zip(names, nlora_task_params(4, names, causal_lm=False)))
    assert {n: p["lambda_1"] for n, p in params.items() if p["lambda_1"] == 1.2} == {
        n: 1.2 for n in ("WiC", "RTE", "IMDB", "yelp", "SST-2", "dbpedia", "yahoo")
    }
    assert params["MNLI"] == {"lr": 5e-4, "epochs": 10, "lambda_1": 0.4}
    with pytest.raises(SystemExit, match="no lambda_1 for task 'synth_news'"):
        nlora_task_params(4, ["synth_news"], causal_lm=False)
    assert nlora_task_params(4, ["synth_news"], False, lambda_1=0.7)[0]["lambda_1"] == 0.7


def test_llama_rows():
    names = ["a", "b", "c", "d"]
    got = {o: nlora_task_params(o, names, causal_lm=True) for o in (1, 2, 3)}
    assert [(p["lr"], p["epochs"]) for p in got[1]] == [(1e-3, 1), (1e-4, 10), (1e-4, 1), (1e-4, 1)]
    assert [(p["lr"], p["epochs"]) for p in got[2]] == [(1e-4, 1), (5e-5, 5), (5e-5, 1), (5e-5, 1)]
    assert [(p["lr"], p["epochs"]) for p in got[3]] == [(1e-4, 5), (1e-4, 10), (1e-4, 1), (1e-4, 1)]
    assert [got[o][0]["lambda_1"] for o in (1, 2, 3)] == [0.46, 0.38, 0.4]
    assert [nlora_batch(o, causal_lm=True)[0] for o in (1, 2, 3)] == [48, 32, 32]
    with pytest.raises(SystemExit, match="4 tasks"):
        nlora_task_params(1, names[:3], causal_lm=True)

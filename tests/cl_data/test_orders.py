"""Task orders: the spec's table, the upstream configs, and the Recurrent-KIF numbering."""

from __future__ import annotations

import json

import pytest

from cl_data import (
    DATASETS,
    ORDERS,
    DataError,
    kif_order_tasks,
    kif_to_olora,
    olora_to_kif,
    order_tasks,
)

# benchmark-and-metrics.md, "Orders", typed again from the spec.
SPEC_ORDERS = {
    1: "dbpedia, amazon, yahoo, agnews",
    2: "dbpedia, amazon, agnews, yahoo",
    3: "yahoo, amazon, agnews, dbpedia",
    4: "MNLI, CB, WiC, COPA, QQP, BoolQA, RTE, IMDB, yelp, amazon, SST-2, dbpedia, agnews, "
    "MultiRC, yahoo",
    5: "MultiRC, BoolQA, WiC, MNLI, CB, COPA, QQP, RTE, IMDB, SST-2, dbpedia, agnews, yelp, "
    "amazon, yahoo",
    6: "yelp, amazon, MNLI, CB, COPA, QQP, RTE, IMDB, SST-2, dbpedia, agnews, yahoo, MultiRC, "
    "BoolQA, WiC",
}

# recurrent-kif.md section 7: reference id -> (O-LoRA number, tasks).
SPEC_KIF = {
    1: (4, "mnli, cb, wic, copa, qqp, boolqa, rte, imdb, yelp, amazon, sst-2, dbpedia, agnews, "
        "multirc, yahoo"),
    2: (5, "multirc, boolqa, wic, mnli, cb, copa, qqp, rte, imdb, sst-2, dbpedia, agnews, yelp, "
        "amazon, yahoo"),
    3: (6, "yelp, amazon, mnli, cb, copa, qqp, rte, imdb, sst-2, dbpedia, agnews, yahoo, multirc, "
        "boolqa, wic"),
    4: (1, "dbpedia, amazon, yahoo, agnews"),
    5: (2, "dbpedia, amazon, agnews, yahoo"),
    6: (3, "yahoo, amazon, agnews, dbpedia"),
}  # fmt: skip


def test_orders_match_the_spec() -> None:
    assert set(ORDERS) == set(SPEC_ORDERS)
    for order, text in SPEC_ORDERS.items():
        assert order_tasks(order) == tuple(text.split(", "))


def test_long_orders_hold_every_dataset_once() -> None:
    for order in (4, 5, 6):
        assert sorted(order_tasks(order)) == sorted(DATASETS)


def test_kif_numbering() -> None:
    for kif, (olora, text) in SPEC_KIF.items():
        assert kif_to_olora(kif) == olora
        assert olora_to_kif(olora) == kif
        assert kif_order_tasks(kif) == tuple(text.split(", "))


@pytest.mark.parametrize("bad", [0, 7, -1, "1", 1.0, True, None])
def test_unknown_order_is_a_data_error(bad) -> None:
    with pytest.raises(DataError, match="unknown order"):
        order_tasks(bad)
    with pytest.raises(DataError, match="unknown Recurrent-KIF order id"):
        kif_to_olora(bad)


def _order_from_configs(folder) -> list[str]:
    """Upstream order: the task trained k-th is the one whose test_tasks.json lists k tasks."""
    by_count = {}
    for task_dir in folder.iterdir():
        test = json.loads((task_dir / "test_tasks.json").read_text())
        train = json.loads((task_dir / "train_tasks.json").read_text())
        trained = [d["dataset name"] for entries in train.values() for d in entries]
        assert trained == [task_dir.name]
        seen = [d["dataset name"] for entries in test.values() for d in entries]
        assert task_dir.name in seen
        by_count[len(seen)] = (task_dir.name, set(seen))
    names = [by_count[k][0] for k in range(1, len(by_count) + 1)]
    for k in range(1, len(names) + 1):  # test = every task seen so far
        assert by_count[k][1] == set(names[:k])
    return names


def test_orders_match_the_upstream_configs(configs_dir) -> None:
    for order in ORDERS:
        assert _order_from_configs(configs_dir / f"order{order}_configs") == list(ORDERS[order])
    assert _order_from_configs(configs_dir / "long_configs") == list(ORDERS[6])

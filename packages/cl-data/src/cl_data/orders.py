"""Task orders of the CL benchmark (O-LoRA numbering 1-6) and the Recurrent-KIF reference ids.

Orders 1-3 are the 4-task "standard" benchmark, orders 4-6 the 15-task "long sequence" benchmark.
They match `CL_Benchmark_configs/orderN_configs` (the task trained at step k is the one whose
`test_tasks.json` lists k tasks). Recurrent-KIF numbers the same orders differently (its id 1 is
O-LoRA order 4) and writes dataset names in lower case.
"""

from __future__ import annotations

from cl_data.errors import DataError

ORDERS: dict[int, tuple[str, ...]] = {
    1: ("dbpedia", "amazon", "yahoo", "agnews"),
    2: ("dbpedia", "amazon", "agnews", "yahoo"),
    3: ("yahoo", "amazon", "agnews", "dbpedia"),
    4: (
        "MNLI", "CB", "WiC", "COPA", "QQP", "BoolQA", "RTE", "IMDB",
        "yelp", "amazon", "SST-2", "dbpedia", "agnews", "MultiRC", "yahoo",
    ),
    5: (
        "MultiRC", "BoolQA", "WiC", "MNLI", "CB", "COPA", "QQP", "RTE",
        "IMDB", "SST-2", "dbpedia", "agnews", "yelp", "amazon", "yahoo",
    ),
    6: (
        "yelp", "amazon", "MNLI", "CB", "COPA", "QQP", "RTE", "IMDB",
        "SST-2", "dbpedia", "agnews", "yahoo", "MultiRC", "BoolQA", "WiC",
    ),
}  # fmt: skip

# Recurrent-KIF reference order id -> O-LoRA order number.
KIF_TO_OLORA: dict[int, int] = {1: 4, 2: 5, 3: 6, 4: 1, 5: 2, 6: 3}
OLORA_TO_KIF: dict[int, int] = {olora: kif for kif, olora in KIF_TO_OLORA.items()}


def _check(order: object, table: dict[int, object], what: str) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or order not in table:
        known = ", ".join(str(k) for k in sorted(table))
        raise DataError(f"unknown {what} {order!r}; expected one of {known}")
    return order


def order_tasks(order: int) -> tuple[str, ...]:
    """Dataset names of O-LoRA order `order` (1-6), in training order."""
    return ORDERS[_check(order, ORDERS, "order")]


def kif_to_olora(kif_order: int) -> int:
    """O-LoRA order number of Recurrent-KIF reference order id `kif_order`."""
    return KIF_TO_OLORA[_check(kif_order, KIF_TO_OLORA, "Recurrent-KIF order id")]


def olora_to_kif(order: int) -> int:
    """Recurrent-KIF reference order id of O-LoRA order `order`."""
    return OLORA_TO_KIF[_check(order, OLORA_TO_KIF, "order")]


def kif_order_tasks(kif_order: int) -> tuple[str, ...]:
    """Long-sequence task names (lower case) of Recurrent-KIF reference order id `kif_order`."""
    return tuple(name.lower() for name in ORDERS[kif_to_olora(kif_order)])

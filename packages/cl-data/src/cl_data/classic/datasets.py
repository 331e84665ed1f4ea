"""The class-incremental datasets built from labelled rows, by name (what an app's
``data.name`` selects): ``clinc150``, ``banking77``, ``fewrel``, ``tacred``.

``build_labelled_dataset(name, data_dir, seed=..., train_per_class=..., test_per_class=...)``
returns (continual data, config). ``data_dir`` None means the shared copy
(``$CL_SHARED_DATA/clinc150``, ``$CL_SHARED_DATA/banking77``); FewRel and TACRED have no shared
copy and need it (see :mod:`cl_data.classic.relation` for their input layout).
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike
from typing import Any

from cl_data.classic.banking77 import build_banking77
from cl_data.classic.clinc150 import build_clinc150
from cl_data.classic.continual import ContinualConfig, ContinualData
from cl_data.classic.relation import build_fewrel, build_tacred

Builder = Callable[..., tuple[ContinualData, ContinualConfig]]

LABELLED_DATASETS: dict[str, Builder] = {
    "clinc150": build_clinc150,
    "banking77": build_banking77,
    "fewrel": build_fewrel,
    "tacred": build_tacred,
}


def build_labelled_dataset(
    name: str,
    data_dir: str | PathLike[str] | None = None,
    *,
    seed: int = 1,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    **kwargs: Any,
) -> tuple[ContinualData, ContinualConfig]:
    """Build dataset ``name`` with per-class caps on train and test (None: every row)."""
    if name not in LABELLED_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LABELLED_DATASETS)}")
    return LABELLED_DATASETS[name](
        data_dir,
        seed=seed,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        **kwargs,
    )

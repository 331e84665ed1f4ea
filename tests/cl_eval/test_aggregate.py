"""cl-eval aggregate: mean ± std over runs on matrices whose metrics are worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from cl_eval import (
    AccuracyMatrix,
    EvalInputError,
    aggregate_files,
    aggregate_markdown,
    aggregate_runs,
    make_results,
    mean_std,
    write_results,
)
from cl_eval.cli import main

# Three runs of two tasks. By hand (forgetting "standard", T = 2):
#   A: R = [[90], [60, 80]]   AP 70, BWT -30, forgetting 30, AIA (90 + 70)/2 = 80, diagonal 85
#   B: R = [[80], [70, 90]]   AP 80, BWT -10, forgetting 10, AIA (80 + 80)/2 = 80, diagonal 85
#   C: R = [[100], [50, 70]]  AP 60, BWT -50, forgetting 50, AIA (100 + 60)/2 = 80, diagonal 85
# AP: mean 70, sample std sqrt((0 + 100 + 100) / 2) = 10, population std sqrt(200 / 3).
# BWT: mean -30, sample std sqrt((0 + 400 + 400) / 2) = 20.
# Mean R = [[90, -], [60, 80]]; std of R[0][0] = sqrt((0 + 100 + 100) / 2) = 10.
ROWS = {"A": [[90.0], [60.0, 80.0]], "B": [[80.0], [70.0, 90.0]], "C": [[100.0], [50.0, 70.0]]}


def run(rows, *, name="exp", config=None, hardware=None, extra=None, scale=100.0, tasks=None):
    matrix = AccuracyMatrix.from_rows(rows, tasks or ["t0", "t1"], scale=scale)
    return make_results(
        matrix,
        name=name,
        config=config or {},
        hardware=hardware,
        extra=extra,
        detect_hardware=False,
    )


@pytest.fixture
def files(tmp_path):
    a = run(ROWS["A"], config={"seed": 1}, hardware={"runtime_s": 12.5})
    b = run(ROWS["B"], config={"trainer": {"seed": 2}}, extra={"runtime_s": 7})
    # C in fractions: converted to the first run's percentages
    c = run([[1.0], [0.5, 0.7]], config={"seed": 3}, scale=1.0)
    return [write_results(r, tmp_path / f"s{k}" / "results.json") for k, r in enumerate((a, b, c))]


def test_mean_std_by_hand() -> None:
    stat = mean_std([70.0, 80.0, None, 60.0])
    assert (stat.mean, stat.std, stat.n) == (70.0, 10.0, 3)
    assert mean_std([70.0, 80.0, 60.0], ddof=0).std == pytest.approx(math.sqrt(200 / 3))
    assert mean_std([5.0]).std is None and mean_std([None]).mean is None


def test_aggregate_known_runs(files) -> None:
    agg = aggregate_files(files)
    m = agg.metrics
    assert (m["ap"].mean, m["ap"].std, m["ap"].n) == (70.0, 10.0, 3)
    assert m["ap"].values == [70.0, 80.0, 60.0]
    assert (m["bwt"].mean, m["bwt"].std) == (-30.0, 20.0)
    assert (m["forgetting"].mean, m["forgetting"].std) == (30.0, 20.0)
    assert (m["aia"].mean, m["aia"].std) == (80.0, 0.0)
    assert (m["diagonal"].mean, m["diagonal"].std) == (85.0, 0.0)
    assert "ap_micro" not in m and "fwt" not in m  # no run has counts or a baseline
    assert agg.mean_matrix.rows() == [[90.0, None], [60.0, 80.0]]
    assert agg.std_matrix.score(0, 0) == pytest.approx(10.0)
    assert [r.seed for r in agg.runs] == [1, 2, 3]
    assert [r.runtime_s for r in agg.runs] == [12.5, 7.0, None]
    assert [r.label for r in agg.runs] == ["exp (seed 1)", "exp (seed 2)", "exp (seed 3)"]
    # the seed sits in different keys (seed, trainer.seed): both per-run, so no difference
    assert agg.config_differences == []
    population = aggregate_files(files, ddof=0)
    assert population.metrics["ap"].std == pytest.approx(math.sqrt(200 / 3))


def test_cli_writes_markdown_and_json(files, tmp_path, capsys) -> None:
    out = tmp_path / "summary" / "summary.md"
    args = ["aggregate", *map(str, files), "--out", str(out), "--name", "toy"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "# Aggregate: toy (3 runs)" in printed
    assert "| AP (macro) | 70.00 ± 10.00 | 3 | 70.00 | 80.00 | 60.00 |" in printed
    assert "| BWT | -30.00 ± 20.00 | 3 |" in printed
    assert "| exp (seed 1) | 1 | 12.5 |" in printed and "Total runtime: 19.5 s" in printed
    assert out.read_text() == printed
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["format"] == "cl-eval/aggregate" and data["num_runs"] == 3
    assert data["metrics"]["ap"] == {"mean": 70.0, "std": 10.0, "n": 3, "values": [70, 80, 60]}
    assert data["mean_matrix"] == [[90.0, None], [60.0, 80.0]]
    assert [r["seed"] for r in data["runs"]] == [1, 2, 3]
    assert "Configs agree except in the seed, name and output folder." in printed
    assert data["config_differences"] == []
    assert main(["aggregate", str(files[0]), "--names", "only"]) == 0
    assert "| only | 1 | 12.5 |" in capsys.readouterr().out  # one run: mean, no std


def test_refuses_runs_of_different_experiments(files, tmp_path, capsys) -> None:
    other = write_results(run(ROWS["A"], tasks=["t0", "x1"]), tmp_path / "other.json")
    assert main(["aggregate", str(files[0]), str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("cl-eval: error: ")
    assert "other.json has the task list ['t0', 'x1']" in err
    unfinished = write_results(run([[90.0]]), tmp_path / "unfinished.json")
    with pytest.raises(EvalInputError, match=r"unfinished.json trained 1 of 2 tasks"):
        aggregate_files([files[0], unfinished])
    classic = run(ROWS["B"])
    classic.forgetting_variant = "classic"
    with pytest.raises(EvalInputError, match=r"forgetting variant 'classic'"):
        aggregate_runs([run(ROWS["A"]), classic])
    with pytest.raises(EvalInputError, match=r"at least one run"):
        aggregate_runs([])
    with pytest.raises(EvalInputError, match=r"2 names for 3 runs"):
        aggregate_files(files, names=["a", "b"])


def test_config_differences_are_shown() -> None:
    a = run(ROWS["A"], config={"seed": 1, "method": "seq", "trainer": {"epochs": 1, "lr": 1e-5}})
    b = run(ROWS["B"], config={"seed": 2, "method": "replay", "trainer": {"epochs": 1}})
    agg = aggregate_runs([a, b])
    assert agg.config_differences == ["method", "trainer.lr"]
    assert "Configs differ in: `method`, `trainer.lr`." in aggregate_markdown(agg)


def test_cli_warns_on_config_differences_and_strict_refuses(tmp_path, capsys) -> None:
    a = run(ROWS["A"], config={"seed": 1, "method": "seq", "trainer": {"lr": 1e-5}})
    b = run(ROWS["B"], config={"seed": 2, "method": "replay", "trainer": {"lr": 1e-5}})
    paths = [write_results(r, tmp_path / f"{k}.json") for k, r in enumerate((a, b))]
    assert main(["aggregate", *map(str, paths)]) == 0
    err = capsys.readouterr().err
    assert "cl-eval: warning: the runs' configurations differ in method (not only" in err
    assert main(["aggregate", *map(str, paths), "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith("(--strict)") and "differ in method" in err
    # seeds alone differ: no warning, and --strict passes
    same = [write_results(run(ROWS[k], config={"seed": i}), tmp_path / f"s{k}.json")
            for i, k in enumerate("AB")]  # fmt: skip
    assert main(["aggregate", *map(str, same), "--strict"]) == 0
    assert "warning" not in capsys.readouterr().err

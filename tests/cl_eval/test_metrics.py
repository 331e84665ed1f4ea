import pytest

from cl_eval import (
    AccuracyMatrix,
    average_incremental_accuracy,
    average_performance,
    average_performance_micro,
    backward_transfer,
    compute_metrics,
    forgetting,
    forward_transfer,
    iil_metrics,
    num_trained,
    per_task_scores,
)

KIF = [[0.8], [0.7, 0.9], [0.6, 0.85, 0.95]]


def test_kif_spec_example_in_fractions():
    assert average_performance(KIF) == pytest.approx(0.8)
    assert backward_transfer(KIF) == pytest.approx(-0.125)
    m = AccuracyMatrix.from_rows(KIF, scale=1.0)
    assert compute_metrics(m)["ap"] == pytest.approx(0.8)


def test_every_metric_on_a_hand_computed_3x3(three_task_matrix):
    m = three_task_matrix
    # AP = (70 + 45 + 60) / 3; micro = 100 * (7 + 9 + 30) / (10 + 20 + 50)
    assert average_performance(m) == pytest.approx(175 / 3)
    assert average_performance_micro(m) == pytest.approx(57.5)
    # AIA = (90 + (80 + 50) / 2 + 175 / 3) / 3
    assert average_incremental_accuracy(m) == pytest.approx((90 + 65 + 175 / 3) / 3)
    # F = ((max(90, 80) - 70) + (50 - 45)) / 2
    assert forgetting(m) == pytest.approx(12.5)
    assert forgetting(m, "classic") == pytest.approx(12.5)
    # BWT = ((70 - 90) + (45 - 50)) / 2
    assert backward_transfer(m) == pytest.approx(-12.5)
    # FWT = ((R[0][1] - b1) + (R[1][2] - b2)) / 2 = ((40 - 20) + (45 - 30)) / 2
    assert forward_transfer(m) == pytest.approx(17.5)
    assert compute_metrics(m) == pytest.approx(
        {
            "ap": 175 / 3,
            "ap_micro": 57.5,
            "aia": (90 + 65 + 175 / 3) / 3,
            "forgetting": 12.5,
            "bwt": -12.5,
            "fwt": 17.5,
        }
    )


def test_forgetting_variants_differ_when_a_task_improves_later():
    rows = [[50.0], [60.0, 80.0], [70.0, 70.0, 90.0]]
    # standard: ((max(50, 60) - 70) + (80 - 70)) / 2 = 0
    assert forgetting(rows) == pytest.approx(0.0)
    # classic (last row in the max): ((70 - 70) + (80 - 70)) / 2 = 5
    assert forgetting(rows, "classic") == pytest.approx(5.0)
    assert compute_metrics(rows, forgetting_variant="classic")["forgetting"] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="variant"):
        forgetting(rows, "max")


def test_forgetting_ignores_future_cells_above_the_diagonal():
    # R[0][1] = 95 was measured before task 1 was learned: it is not knowledge to forget.
    rows = [[90.0, 95.0, 0.0], [80.0, 70.0, 0.0], [75.0, 65.0, 50.0]]
    # ((90 - 75) + (70 - 65)) / 2, not ((90 - 75) + (95 - 65)) / 2
    assert forgetting(rows) == pytest.approx(10.0)
    assert forgetting(rows, "classic") == pytest.approx(10.0)


def test_single_task_gives_none_for_cross_row_metrics():
    m = AccuracyMatrix.from_rows([[80.0]], baseline=[10.0])
    metrics = compute_metrics(m)
    assert metrics["ap"] == 80.0 and metrics["aia"] == 80.0
    assert metrics["forgetting"] is None
    assert metrics["bwt"] is None
    assert metrics["fwt"] is None
    assert forgetting(m, "classic") is None


def test_empty_matrix_gives_none_everywhere():
    metrics = compute_metrics(AccuracyMatrix(["a", "b"]))
    assert set(metrics.values()) == {None}


def test_partial_run_uses_the_rows_trained_so_far():
    m = AccuracyMatrix.from_rows([[90.0], [70.0, 80.0]], ["a", "b", "c", "d"])
    assert num_trained(m) == 2
    assert average_performance(m) == pytest.approx(75.0)
    assert backward_transfer(m) == pytest.approx(-20.0)
    assert average_incremental_accuracy(m) == pytest.approx((90 + 75) / 2)


def test_missing_cells_are_skipped():
    # R[2][1] missing: AP over two cells, forgetting and BWT from task 0 only.
    rows = [[90.0], [80.0, 50.0], [70.0, None, 60.0]]
    assert average_performance(rows) == pytest.approx(65.0)
    assert forgetting(rows) == pytest.approx(20.0)
    assert backward_transfer(rows) == pytest.approx(-20.0)
    # R[1][1] missing: BWT still has task 0; forgetting of task 1 has no earlier row.
    rows = [[90.0], [80.0, None], [70.0, 40.0, 60.0]]
    assert backward_transfer(rows) == pytest.approx(-20.0)
    assert forgetting(rows) == pytest.approx(20.0)
    # A whole middle row missing: AIA averages the rows that exist.
    rows = [[90.0], [None, None], [70.0, 40.0, 60.0]]
    assert average_incremental_accuracy(rows) == pytest.approx((90 + 170 / 3) / 2)


def test_micro_ap_needs_counts_on_every_final_cell(three_task_matrix):
    m = three_task_matrix
    m.record(2, 1, 45.0)  # drop the counts of one final cell
    assert average_performance_micro(m) is None
    assert average_performance_micro(KIF) is None


def test_fwt_needs_baseline_and_future_cells(three_task_matrix):
    no_base = AccuracyMatrix.from_rows([[90.0, 40.0], [80.0, 50.0]])
    assert forward_transfer(no_base) is None
    no_future = AccuracyMatrix.from_rows([[90.0], [80.0, 50.0]], baseline=[10.0, 20.0])
    assert forward_transfer(no_future) is None
    partial = AccuracyMatrix.from_rows([[90.0, 40.0, None], [80, 50, 45], [1, 2, 3]])
    partial.record_baseline(1, 30.0)
    assert forward_transfer(partial) == pytest.approx(10.0)


def test_iil_metrics_by_hand():
    m = AccuracyMatrix.from_rows(
        [[40.0], [30.0, 45.0], [20.0, 35.0, 50.0]],
        train_rows=[[100.0], [60.0, 100.0], [50.0, 70.0, 90.0]],
    )
    # MA = (50 + 70 + 90) / 3; MF = ((100 - 50) + (100 - 70)) / 2
    # GA = (20 + 35 + 50) / 3; GF = ((40 - 20) + (45 - 35)) / 2
    assert iil_metrics(m) == pytest.approx({"ma": 70.0, "ga": 35.0, "mf": 40.0, "gf": 15.0})
    metrics = compute_metrics(m, forgetting_variant="classic")
    assert metrics["ma"] == pytest.approx(70.0) and metrics["gf"] == pytest.approx(15.0)
    plain = AccuracyMatrix.from_rows([[40.0]])
    assert "ma" not in compute_metrics(plain)
    assert iil_metrics(plain) == {"ma": None, "ga": 40.0, "mf": None, "gf": None}


def test_per_task_scores(three_task_matrix):
    records = per_task_scores(three_task_matrix)
    assert [r["task"] for r in records] == ["dbpedia", "amazon", "yahoo"]
    assert records[0] == {
        "task": "dbpedia",
        "index": 0,
        "final": 70.0,
        "after_own_task": 90.0,
        "best": 90.0,
        "baseline": 10.0,
        "final_correct": 7,
        "final_total": 10,
    }
    assert records[2]["best"] == 60.0

import pytest

from cl_eval import AccuracyMatrix, Cell, EvalInputError


def test_from_rows_ragged_pads_missing_cells():
    m = AccuracyMatrix.from_rows([[0.8], [0.7, 0.9]], scale=1.0)
    assert m.tasks == ("task0", "task1")
    assert m.rows() == [[0.8, None], [0.7, 0.9]]
    assert m.last_row() == 1
    assert m.score(0, 1) is None


def test_from_rows_with_declared_tasks_for_a_partial_run():
    m = AccuracyMatrix.from_rows([[90.0]], ["a", "b", "c"], baseline=[None, 5.0])
    assert m.num_tasks == 3
    assert m.last_row() == 0
    assert m.baseline == [None, 5.0, None]
    assert m.rows()[2] == [None, None, None]


def test_record_by_name_and_counts(three_task_matrix):
    m = three_task_matrix
    assert m.task_index("yahoo") == 2
    assert m.score("yahoo", "dbpedia") == 70.0
    assert m.cell(2, 1) == Cell(45.0, 9, 20)
    assert m.cell(0, 0) == Cell(90.0)
    assert m.baseline_score("amazon") == 20.0
    m.record(0, 0, 80.0, correct=4, total=5)  # re-evaluation overwrites, score agrees
    assert m.cell(0, 0) == Cell(80.0, 4, 5)


def test_empty_matrix():
    m = AccuracyMatrix(["a"])
    assert m.is_empty() and m.last_row() is None and m.baseline is None
    assert "cells=0/1" in repr(m)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": 101.0}, "outside"),
        ({"score": -1.0}, "outside"),
        ({"score": float("nan")}, "outside"),
        ({"score": "high"}, "must be a number"),
        ({}, "give a score or counts"),
        ({"correct": 3}, "both correct and total"),
        ({"correct": 3, "total": 0}, "total > 0"),
        ({"correct": 5, "total": 4}, "correct <= total"),
        ({"correct": True, "total": 4}, "must be an integer"),
        ({"correct": 1.5, "total": 4}, "must be an integer"),
        ({"score": 50.0, "correct": 3, "total": 4}, "disagrees with counts"),
    ],
)
def test_bad_cells_name_the_cell(kwargs, message):
    m = AccuracyMatrix(["dbpedia", "amazon"])
    with pytest.raises(EvalInputError, match=message) as info:
        m.record(1, "dbpedia", **kwargs)
    assert "R[1][0]" in str(info.value) and "'dbpedia'" in str(info.value)


def test_bad_indexing_and_construction():
    m = AccuracyMatrix(["a", "b"])
    with pytest.raises(EvalInputError, match="unknown task 'c'"):
        m.record(0, "c", 1.0)
    with pytest.raises(EvalInputError, match=r"outside 0\.\.1"):
        m.record(2, 0, 1.0)
    with pytest.raises(EvalInputError, match=r"outside 0\.\.1"):
        m.record(-1, 0, 1.0)
    with pytest.raises(EvalInputError, match="unique"):
        AccuracyMatrix(["a", "a"])
    with pytest.raises(EvalInputError, match="at least one task"):
        AccuracyMatrix([])
    with pytest.raises(EvalInputError, match="scale"):
        AccuracyMatrix(["a"], scale=0)
    with pytest.raises(EvalInputError, match="3 rows for 2 tasks"):
        AccuracyMatrix.from_rows([[1.0], [1.0], [1.0]], ["a", "b"])
    with pytest.raises(EvalInputError, match="baseline"):
        m.record_baseline(0, 200.0)


def test_scale_one_accepts_fractions_only():
    m = AccuracyMatrix(["a"], scale=1.0)
    m.record(0, 0, correct=3, total=4)
    assert m.score(0, 0) == 0.75
    with pytest.raises(EvalInputError, match=r"outside \[0, 1\]"):
        m.record(0, 0, 75.0)


def test_dict_round_trip_keeps_counts_baseline_and_train(three_task_matrix):
    m = three_task_matrix
    m.record_baseline(0, correct=1, total=10)
    m.record_train(0, 0, correct=10, total=10)
    m.record_train(1, 1, 95.0)
    data = m.to_dict()
    assert data["matrix"][2] == [70.0, 45.0, 60.0]
    assert data["counts"]["total"][2] == [10, 20, 50]
    assert data["counts"]["total"][0] == [None, None, None]
    assert data["baseline_counts"] == {"correct": [1, None, None], "total": [10, None, None]}
    assert data["train_matrix"][1] == [None, 95.0, None]
    back = AccuracyMatrix.from_dict(data)
    assert back == m
    assert back.train is not None and back.train.cell(0, 0) == Cell(100.0, 10, 10)


def test_from_dict_errors_name_the_source():
    with pytest.raises(EvalInputError, match=r"run\.json: missing key 'matrix'"):
        AccuracyMatrix.from_dict({"tasks": ["a"]}, source="run.json")
    with pytest.raises(EvalInputError, match=r"run\.json: .*outside"):
        AccuracyMatrix.from_dict({"tasks": ["a"], "matrix": [[250.0]]}, source="run.json")
    with pytest.raises(EvalInputError, match="list of lists"):
        AccuracyMatrix.from_dict({"tasks": ["a"], "matrix": [1.0]})
    with pytest.raises(EvalInputError, match="'correct' and 'total'"):
        AccuracyMatrix.from_dict({"tasks": ["a"], "matrix": [[1.0]], "counts": {"right": []}})

import json

import pytest

from cl_eval import (
    Cell,
    EvalInputError,
    PredictionRecord,
    matrix_from_predictions,
    read_predictions,
    write_predictions,
)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_write_and_read_round_trip(tmp_path):
    path = write_predictions(
        tmp_path / "p.jsonl", 1, "amazon", ["Good", "bad"], ["good", "Good"], ids=["x", 7]
    )
    records = read_predictions(path)
    assert records[0] == PredictionRecord(
        after_task=1, task="amazon", prediction="Good", gold="good", id="x", path=str(path), line=1
    )
    assert records[1].id == 7 and records[1].split == "test" and records[1].correct is None
    with pytest.raises(ValueError, match="2 predictions for 1 golds"):
        write_predictions(tmp_path / "q.jsonl", 0, "a", ["x", "y"], ["x"])


def test_rebuild_matrix_from_files(tmp_path):
    # Two tasks, lower-triangular, with a baseline row, a train split and a correct override.
    files = [
        write_predictions(
            tmp_path / "base.jsonl", -1, "dbpedia", ["x", "Company"], ["company"] * 2
        ),
        write_predictions(tmp_path / "b_amazon.jsonl", -1, "amazon", ["bad"], ["good"]),
        write_predictions(
            tmp_path / "0.jsonl", 0, "dbpedia", ["Company", "company.", "Film"], ["company"] * 3
        ),
        write_predictions(tmp_path / "0_amazon.jsonl", 0, "amazon", ["good"], ["good"]),
        write_predictions(
            tmp_path / "1a.jsonl", 1, "dbpedia", ["Film", "company"], ["company"] * 2
        ),
        write_predictions(
            tmp_path / "1b.jsonl",
            1,
            "amazon",
            ["1", "2", "3", "4"],
            ["x"] * 4,
            correct=[True, True, True, False],
        ),
        write_predictions(tmp_path / "tr.jsonl", 1, "amazon", ["ok"], ["ok"], split="train"),
    ]
    m = matrix_from_predictions(files)
    assert m.tasks == ("dbpedia", "amazon")
    assert m.cell(0, 0) == Cell(200 / 3, 2, 3)
    assert m.cell(0, 1) == Cell(100.0, 1, 1)
    assert m.cell(1, 0) == Cell(50.0, 1, 2)
    assert m.cell(1, 1) == Cell(75.0, 3, 4)
    assert m.baseline_cell(0) == Cell(50.0, 1, 2) and m.baseline_score(1) == 0.0
    assert m.train is not None and m.train.cell(1, 1) == Cell(100.0, 1, 1)
    assert m.train.cell(0, 0) is None
    # explicit order and fraction scale
    m2 = matrix_from_predictions(files, tasks=["amazon", "dbpedia"], scale=1.0)
    assert m2.cell(1, 0) == Cell(0.75, 3, 4)  # after_task 1 is now "dbpedia"'s row


def test_normalisation_options(tmp_path):
    path = _write(
        tmp_path / "p.jsonl",
        [{"after_task": 0, "task": "sst2", "prediction": "Positive </s>", "gold": "positive"}],
    )
    assert matrix_from_predictions([path]).score(0, 0) == 0.0
    kif = matrix_from_predictions([path], normalise="lower", strip_tokens=["</s>"])
    assert kif.score(0, 0) == 100.0


def test_task_names_as_after_task_and_inferred_order(tmp_path):
    rows = [
        {"after_task": "yahoo", "task": "yahoo", "prediction": "a", "gold": "a"},
        {"after_task": "yahoo", "task": "agnews", "prediction": "a", "gold": "b"},  # future
        {"after_task": "agnews", "task": "yahoo", "prediction": "a", "gold": "a"},
        {"after_task": "agnews", "task": "agnews", "prediction": "b", "gold": "b"},
    ]
    m = matrix_from_predictions([_write(tmp_path / "p.jsonl", rows)])
    assert m.tasks == ("yahoo", "agnews")
    assert m.rows() == [[100.0, 0.0], [100.0, 100.0]]


def test_integer_rows_are_ordered_by_after_task(tmp_path):
    rows = [
        {"after_task": 1, "task": "b", "prediction": "x", "gold": "x"},
        {"after_task": 1, "task": "a", "prediction": "x", "gold": "x"},
        {"after_task": 0, "task": "a", "prediction": "x", "gold": "y"},
    ]
    m = matrix_from_predictions([_write(tmp_path / "p.jsonl", rows)])
    assert m.tasks == ("a", "b")
    assert m.rows() == [[0.0, None], [100.0, 100.0]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"after_task": 0, "task": "a", "prediction": "x"}', "missing key"),
        ('{"after_task": 0, "task": "a", "prediction": "x", "gold": ', "invalid JSON"),
        ('["a"]', "JSON object"),
        ('{"after_task": true, "task": "a", "prediction": "x", "gold": "x"}', "after_task"),
        ('{"after_task": -2, "task": "a", "prediction": "x", "gold": "x"}', ">= -1"),
        ('{"after_task": 0, "task": "", "prediction": "x", "gold": "x"}', "non-empty"),
        ('{"after_task": 0, "task": "a", "prediction": null, "gold": "x"}', "'prediction'"),
        ('{"after_task": 0, "task": "a", "prediction": "x", "gold": "x", "split": "dev"}', "split"),
        (
            '{"after_task": -1, "task": "a", "prediction": "x", "gold": "x", "split": "train"}',
            "no train",
        ),
        (
            '{"after_task": 0, "task": "a", "prediction": "x", "gold": "x", "correct": 1}',
            "'correct'",
        ),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"after_task": 0, "task": "a", "prediction": "x", "gold": "x"}\n\n' + line + "\n"
    )
    with pytest.raises(EvalInputError, match=message) as info:
        matrix_from_predictions([path])
    assert f"{path}, line 3" in str(info.value)


def test_rebuild_errors(tmp_path):
    ok = _write(
        tmp_path / "ok.jsonl",
        [{"after_task": 2, "task": "b", "prediction": "x", "gold": "x", "id": 1}],
    )
    with pytest.raises(EvalInputError, match="line 1: task index 2 is outside"):
        matrix_from_predictions([ok], tasks=["a", "b"])
    with pytest.raises(EvalInputError, match="unknown task 'b'"):
        matrix_from_predictions([ok], tasks=["a", "c", "d"])
    with pytest.raises(EvalInputError, match="appears twice"):
        matrix_from_predictions([ok, ok], tasks=["a", "b", "c"])
    with pytest.raises(EvalInputError, match="not found"):
        matrix_from_predictions([tmp_path / "missing.jsonl"])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(EvalInputError, match="no prediction records"):
        matrix_from_predictions([empty])

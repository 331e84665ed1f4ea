"""An empty split, or a split without one labelled row, is an error at load time naming the file
(before: the run trained every task and crashed in the report on 0/0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cl_data import DataError
from cl_data.benchmark import load_task
from cl_data.long_sequence import load_instruct_task


def _benchmark(root: Path, test_rows: list[dict], name="amazon", kind="SC") -> Path:
    folder = root / kind / name
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text(json.dumps(["good", "bad"]))
    rows = [{"sentence": "fine", "label": "good"}, {"sentence": "meh", "label": "bad"}]
    for split, data in (("train", rows), ("dev", rows), ("test", test_rows)):
        (folder / f"{split}.json").write_text(json.dumps(data))
    return folder


def test_an_empty_test_split_names_its_file(tmp_path):
    folder = _benchmark(tmp_path, [])
    with pytest.raises(DataError, match="the test split has no rows") as err:
        load_task("amazon", tmp_path)
    assert str(folder / "test.json") in str(err.value)


def test_a_test_split_without_a_known_label_is_an_error(tmp_path):
    folder = _benchmark(tmp_path, [{"sentence": "x", "label": "-"}])
    with pytest.raises(DataError, match=r"no row with a label from labels\.json"):
        load_task("amazon", tmp_path)
    with pytest.raises(DataError, match=r"has no rows \(after dropping"):
        load_task("amazon", tmp_path, drop_unlabelled=True)
    assert (folder / "test.json").is_file()


def test_a_long_sequence_split_without_outputs_is_an_error(tmp_path):
    row = {"instruction": "i", "input": "x", "output": "yes"}
    for split in ("train", "dev", "test"):
        (tmp_path / split).mkdir()
        data = [{**row, "output": ""}] if split == "test" else [row]
        (tmp_path / split / "sst-2.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="test split has no row with a non-empty output"):
        load_instruct_task("sst-2", tmp_path)


def test_the_app_fails_at_load_time_in_one_line(tmp_path, capsys):
    from reproduce_olora import main

    good = [{"sentence": "fine", "label": "good"}]
    for name in ("dbpedia", "yahoo", "agnews"):
        _benchmark(tmp_path / "data", good, name, "TC")
    _benchmark(tmp_path / "data", [])
    argv = ["--preset", "smoke", "--data-dir", str(tmp_path / "data"), "--no-progress"]
    assert main([*argv, "--order", "1", "--output-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "test.json" in err and "no rows" in err
    assert not (tmp_path / "run").exists()

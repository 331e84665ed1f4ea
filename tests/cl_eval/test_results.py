import importlib.metadata
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from cl_eval import (
    EvalInputError,
    Results,
    hardware_info,
    make_results,
    read_results,
    software_versions,
    write_results,
)
from cl_eval.atomic import atomic_path, atomic_write_text
from cl_eval.results import to_jsonable


@dataclass
class _Config:
    method: str = "olora"
    lr: float = 1e-3
    order: tuple[int, ...] = (1, 2)
    out: Path = Path("runs/x")


def test_json_round_trip(tmp_path, three_task_matrix):
    results = make_results(
        three_task_matrix,
        config=_Config(),
        hardware={"gpu_count": 8, "global_batch": 32},
        name="order1",
        extra={"seed": 1},
    )
    path = write_results(results, tmp_path / "sub" / "results.json")
    back = read_results(path)
    assert back == results
    assert back.source == path and back.label == "order1"
    data = json.loads(path.read_text())
    for key in ("matrix", "per_task", "metrics", "config", "versions", "hardware", "predictions"):
        assert key in data
    assert data["matrix"][0] == [90.0, 40.0, 35.0]
    assert data["metrics"]["bwt"] == pytest.approx(-12.5)
    assert data["config"] == {"method": "olora", "lr": 1e-3, "order": [1, 2], "out": "runs/x"}
    assert data["hardware"]["gpu_count"] == 8 and data["hardware"]["global_batch"] == 32
    assert data["hardware"]["cpu_count"] >= 1
    assert data["per_task"][1]["final"] == 45.0
    assert '"matrix": [\n    [90.0, 40.0, 35.0],' in path.read_text()  # rows stay on one line


def test_versions_without_importing_torch():
    versions = software_versions()
    assert versions["python"].count(".") == 2
    assert versions["numpy"] == importlib.metadata.version("numpy")
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    assert versions.get("torch") == torch_version
    assert software_versions(["no-such-distribution-xyz"]).keys() == {"python"}


def test_hardware_extra_overrides_detected_values():
    info = hardware_info({"gpu_count": 4, "world_size": 4})
    assert info["gpu_count"] == 4 and info["world_size"] == 4
    assert info["cpu_count"] >= 1 and "platform" in info


def test_prediction_paths_relative_to_the_json(tmp_path, three_task_matrix, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run" / "preds").mkdir(parents=True)
    outside = tmp_path / "elsewhere.jsonl"
    results = make_results(
        three_task_matrix,
        predictions=["run/preds/a.jsonl", outside],
        detect_hardware=False,
    )
    write_results(results, "run/results.json")
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert data["predictions"] == ["preds/a.jsonl", str(outside.resolve())]
    back = read_results(tmp_path / "run" / "results.json")
    assert back.prediction_files() == [tmp_path / "run" / "preds" / "a.jsonl", outside.resolve()]


def test_minimal_hand_written_results(tmp_path):
    path = tmp_path / "mini.json"
    path.write_text(json.dumps({"tasks": ["a", "b"], "matrix": [[80], [60, 90]]}))
    results = read_results(path)
    assert results.label == "mini"
    assert results.metrics == {}
    assert results.recompute()["bwt"] == pytest.approx(-20.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"tasks": ["a"],\n "matrix": [[1]],}', "line 2"),
        ("[1, 2]", "JSON object"),
        ('{"format": "other", "tasks": ["a"], "matrix": [[1]]}', "format is 'other'"),
        ('{"format_version": 99, "tasks": ["a"], "matrix": [[1]]}', "newer"),
        ('{"tasks": ["a"], "matrix": [[1]], "metrics": [1]}', "'metrics' must be"),
        ('{"tasks": ["a"], "matrix": [[1]], "forgetting_variant": "x"}', "forgetting_variant"),
        ('{"tasks": ["a"]}', "missing key 'matrix'"),
    ],
)
def test_bad_results_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(EvalInputError, match=message) as info:
        read_results(path)
    assert str(path) in str(info.value)


def test_missing_results_file(tmp_path):
    with pytest.raises(EvalInputError, match="not found"):
        read_results(tmp_path / "nope.json")


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_failed_serialisation_leaves_previous_results(tmp_path, three_task_matrix):
    results = make_results(three_task_matrix, detect_hardware=False)
    path = write_results(results, tmp_path / "r.json")
    before = path.read_text()
    broken = Results(matrix=three_task_matrix, metrics={"ap": math.nan})
    with pytest.raises(ValueError):
        write_results(broken, path)
    assert path.read_text() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_to_jsonable():
    import numpy as np

    value = {"a": np.float32(0.5), "b": {3, 1}, "c": math.inf, "d": np.arange(2), 4: None}
    assert to_jsonable(value) == {"a": 0.5, "b": [1, 3], "c": "inf", "d": [0, 1], "4": None}
    assert to_jsonable(object).startswith("<class")

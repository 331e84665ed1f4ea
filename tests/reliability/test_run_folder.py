"""One folder, one run: --resume compares the whole saved configuration (and package versions),
a folder holding another run is refused unless --overwrite, --resume needs a checkpoint.

The checks run before any data or model is loaded, so these tests build the folder's saved
files (run_config.yaml, checkpoints/latest) with the apps' own configuration loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from common import config, run_folder

SMOKE = ["--preset", "smoke", "--log-with", "none", "--no-progress", "--no-plot"]
RUN_CL = [
    "--config",
    str(Path(__file__).resolve().parents[2] / "apps/configs/classic/topic3_minilm_seq.yaml"),
    "--backbone.model",
    "tiny-bert",
]


def _apps():
    import reproduce_kif
    import reproduce_nlora
    import reproduce_olora
    import run_cl

    return {
        "olora": (reproduce_olora, SMOKE),
        "nlora": (reproduce_nlora, SMOKE),
        "kif": (reproduce_kif, SMOKE),
        "run_cl": (run_cl, RUN_CL),
    }


APPS = ("olora", "nlora", "kif", "run_cl")


def _saved_run(name: str, out: Path, *extra: str) -> None:
    """A folder as a run of ``name`` with ``extra`` settings leaves it after a checkpoint."""
    module, base = _apps()[name]
    cfg = config.load(module.SPEC, [*base, "--output-dir", str(out), *extra])
    run_folder.claim(cfg, out)
    run_folder.save(cfg, out)
    (out / "checkpoints" / "ckpt-0000004-t00-task_done").mkdir(parents=True)
    (out / "checkpoints" / "latest").write_text("ckpt-0000004-t00-task_done")


def _main(name: str, out: Path, *extra: str) -> int:
    module, base = _apps()[name]
    return module.main([*base, "--output-dir", str(out), *extra])


LR = {"olora": "--lr", "nlora": "--lr", "kif": "--lr", "run_cl": "--trainer.lr"}


@pytest.mark.parametrize("name", APPS)
def test_resume_with_another_setting_is_refused_in_one_line(name, tmp_path, capsys):
    out = tmp_path / "run"
    _saved_run(name, out)
    assert _main(name, out, "--resume", LR[name], "0.5", "--seed", "7") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: cannot resume {out}")
    assert "seed (saved" in err and "lr (saved" in err and "now 0.5" in err


@pytest.mark.parametrize("name", APPS)
def test_resume_without_a_checkpoint_is_an_error(name, tmp_path, capsys):
    out = tmp_path / "run"
    assert _main(name, out, "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"error: --resume: {out} holds no checkpoint to resume (run without --resume "
        "to start it)"
    )


@pytest.mark.parametrize("name", APPS)
def test_a_folder_holding_another_run_is_refused_without_overwrite(name, tmp_path, capsys):
    out = tmp_path / "run"
    _saved_run(name, out)
    assert _main(name, out) == 2
    err = capsys.readouterr().err.strip()
    assert "already holds a run" in err and "--overwrite" in err and len(err.splitlines()) == 1


def test_lora_rank_change_is_refused_before_any_size_mismatch(tmp_path, capsys):
    out = tmp_path / "run"
    _saved_run("olora", out)
    assert _main("olora", out, "--resume", "--method_config.r", "4") == 2
    assert "method_config.r (saved 8, now 4)" in capsys.readouterr().err


def test_harmless_differences_are_allowed_and_listed(tmp_path):
    out = tmp_path / "run"
    _saved_run("olora", out)
    module, base = _apps()["olora"]
    cfg = config.load(module.SPEC, [*base, "--output-dir", str(out), "--resume", "--progress"])
    assert run_folder.check_resume(cfg, out) == ["progress (saved False, now True)"]


def test_package_versions_are_compared(tmp_path, capsys):
    out = tmp_path / "run"
    _saved_run("olora", out)
    versions = json.loads((out / "versions.json").read_text())
    assert set(versions) >= {"torch", "transformers", "cl-methods"}
    (out / "versions.json").write_text(json.dumps({**versions, "torch": "0.1"}))
    assert _main("olora", out, "--resume") == 2
    assert "version of torch (saved '0.1'" in capsys.readouterr().err


def test_overwrite_empties_the_folder_first(tmp_path):
    out = tmp_path / "run"
    _saved_run("olora", out)
    (out / "predictions").mkdir()
    (out / "predictions" / "after00_stale.jsonl").write_text("{}\n")
    module, base = _apps()["olora"]
    cfg = config.load(module.SPEC, [*base, "--output-dir", str(out), "--overwrite"])
    run_folder.claim(cfg, out)
    assert list(out.iterdir()) == []


def test_a_folder_of_other_files_is_never_emptied(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert _main("olora", tmp_path, "--overwrite") == 2
    assert "holds files that are not a run" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_report_lists_only_this_runs_prediction_files(tmp_path):
    from common.report import run_predictions

    from cl_methods import ContinualResult, TaskScore

    result = ContinualResult.empty(["a", "b"], rows=2)
    result.record(0, 0, TaskScore(1.0, correct=1, total=1))
    result.record(1, 0, TaskScore(1.0, correct=1, total=1))
    result.record(1, 1, TaskScore(0.5, correct=1, total=2))
    folder = tmp_path / "predictions"
    folder.mkdir()
    names = ["after00_a", "after01_a", "after01_b", "after00_stale", "after02_a", "after00_b"]
    for name in names:
        (folder / f"{name}.jsonl").write_text("{}\n")
    found = [p.stem for p in run_predictions(result, tmp_path)]
    assert found == ["after00_a", "after01_a", "after01_b"]

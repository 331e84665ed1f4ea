"""The one run configuration of every app (apps/common/config.py): --print-config round-trips,
the command line beats the --config file, and each bad input is one line on stderr, exit code 2,
with nothing written. In-process (no model is loaded: every check happens before)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"

# app -> (arguments every run needs, flags by role)
APP_ARGS = {
    "reproduce_olora.py": ([], {}),
    "reproduce_nlora.py": ([], {}),
    "reproduce_kif.py": ([], {}),
    "train_attention.py": (
        ["--preset", "smoke"],
        {"model": "--theta-model", "batch": "--batch-size", "lr": "--phi-lr"},
    ),
    "reproduce_taalm.py": (
        ["--benchmark", "lama-ckl", "--method", "finetune"],
        {"batch": "--batch-size"},
    ),
    "run_cl.py": (
        [],
        {
            "model": "--backbone.model",
            "batch": "--trainer.batch_size",
            "epochs": "--trainer.epochs",
            "lr": "--trainer.lr",
            "epochs_key": "trainer: {epoch: 2}",
        },
    ),
}
DEFAULT_FLAGS = {
    "model": "--model",
    "batch": "--per-device-batch",
    "epochs": "--epochs",
    "lr": "--lr",
    "epochs_key": "epoch: 2",
}
OTHER_APPS_METHOD = {  # a method of another app, refused with this app's choices
    "reproduce_olora.py": ("taalm", "olora"),
    "reproduce_nlora.py": ("mixreview", "nlora"),
    "reproduce_kif.py": ("olora", "kif"),
    "reproduce_taalm.py": ("olora", "taalm"),
    "run_cl.py": ("rho1", "seq"),
}


@pytest.fixture(scope="module")
def apps(module_file):
    if str(APPS) not in sys.path:
        sys.path.insert(0, str(APPS))
    return {name: module_file(APPS / name, f"config_test_{name[:-3]}") for name in APP_ARGS}


def flag(app: str, role: str) -> str:
    return APP_ARGS[app][1].get(role, DEFAULT_FLAGS[role])


def printed(module, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as done:
        module.main([*argv, "--print-config"])
    assert done.value.code == 0
    return capsys.readouterr().out


def fails(module, argv: list[str], out: Path, capsys) -> str:
    assert module.main([*argv, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert not out.exists(), "nothing may be written"
    return err


@pytest.mark.parametrize("app", list(APP_ARGS))
def test_print_config_round_trips_and_the_command_line_wins(app, apps, tmp_path, capsys):
    module, base = apps[app], APP_ARGS[app][0]
    out = ["--output-dir", str(tmp_path / "o")]
    first = printed(module, [*base, *out], capsys)
    saved = tmp_path / "run_config.yaml"
    saved.write_text(first)
    assert printed(module, ["--config", str(saved)], capsys) == first
    assert "seed: 42\n" in first or "seed: 1\n" in first
    assert printed(module, ["--config", str(saved), "--seed", "7"], capsys) != first
    file = tmp_path / "seed.yaml"
    file.write_text(
        first.replace("\nseed: 42\n", "\nseed: 5\n").replace("\nseed: 1\n", "\nseed: 5\n")
    )
    assert "\nseed: 5\n" in printed(module, ["--config", str(file)], capsys)
    # the flag wins over the file whatever the order on the command line
    assert "\nseed: 9\n" in printed(module, ["--seed", "9", "--config", str(file)], capsys)
    assert "\nseed: 9\n" in printed(module, ["--config", str(file), "--seed", "9"], capsys)


@pytest.mark.parametrize("app", list(APP_ARGS))
def test_bad_inputs_are_one_line_errors_and_write_nothing(app, apps, tmp_path, capsys):
    module, base = apps[app], APP_ARGS[app][0]
    out = tmp_path / "out"

    def err(*argv: str) -> str:
        return fails(module, [*base, *argv], out, capsys)

    missing = tmp_path / "models" / "absent"
    message = err(flag(app, "model"), str(missing))
    assert message == f"error: {flag(app, 'model')}: {missing}: no such model folder"
    corrupt = tmp_path / "models" / "corrupt"
    corrupt.mkdir(parents=True)
    (corrupt / "config.json").write_text('{"model_type": "t5",')
    assert "config.json is not valid JSON" in err(flag(app, "model"), str(corrupt))
    assert "must be > 0, got 0" in err(flag(app, "batch"), "0")
    assert err(flag(app, "epochs"), "-1").startswith(f"error: {flag(app, 'epochs')}: must be > 0")
    assert err(flag(app, "lr"), "-1") == f"error: {flag(app, 'lr')}: must be >= 0, got -1.0"
    assert "must be a finite number, got nan" in err(flag(app, "lr"), "nan")
    typo = tmp_path / "typo.yaml"
    typo.write_text(flag(app, "epochs_key") + "\n")
    assert "unknown key" in err("--config", str(typo)) and "nearest valid keys:" in err(
        "--config", str(typo)
    )
    assert "epochs" in err("--config", str(typo))
    assert f"nearest valid flags: {flag(app, 'lr')}" in err(flag(app, "lr") + "r", "1")
    if app in OTHER_APPS_METHOD:
        other, own = OTHER_APPS_METHOD[app]
        message = err("--method", "nope")
        assert message.startswith(f"error: unknown method 'nope' for {app}; choose one of: ")
        choices = message.split("choose one of: ")[1].split(", ")
        assert own in choices and other not in choices


def test_the_flag_is_named_as_typed(apps, tmp_path, capsys):
    olora = apps["reproduce_olora.py"]
    for spelling in ("--global-batch", "--global_batch"):
        err = fails(olora, [spelling, "0"], tmp_path / "o", capsys)
        assert err == f"error: {spelling}: must be > 0, got 0"
    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text("global_batch: -8\n")
    err = fails(olora, ["--config", str(yaml_file)], tmp_path / "o", capsys)
    assert err == f"error: --config {yaml_file}: global_batch: must be > 0, got -8"
    nlora = apps["reproduce_nlora.py"]
    err = fails(nlora, ["--nlora-target", "dw"], tmp_path / "o", capsys)
    assert err == "error: --nlora-target: invalid choice: 'dw' (choose from 'ab', 'delta_w')"


def test_a_joint_run_reports_the_mean_of_its_one_row(apps, tmp_path, capsys):
    """A joint-training run has one row over every task: AP and BWT of that matrix count task 0
    only, so the report adds the row's mean (printed and in results.json)."""
    import json

    from common.report import write_run_report

    from cl_methods import ContinualResult

    joint = ContinualResult.empty(["a", "b", "c"], rows=1)
    joint.matrix[0] = [0.9, 0.6, 0.75]
    write_run_report(joint, tmp_path / "j", name="mtl", config={}, hardware={}, plot=False)
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "j" / "results.json").read_text())
    assert data["extra"]["joint_mean"] == pytest.approx(0.75)  # the scores' own units
    assert "joint training: mean of the one row over every task = 0.75 " in out
    seq = ContinualResult.empty(["a", "b"])
    seq.matrix = [[0.9, None], [0.5, 0.8]]
    write_run_report(seq, tmp_path / "s", name="seq", config={}, hardware={}, plot=False)
    assert "joint training" not in capsys.readouterr().out
    assert "joint_mean" not in json.loads((tmp_path / "s" / "results.json").read_text())["extra"]

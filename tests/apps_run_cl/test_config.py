"""run_cl's configuration: defaults < YAML < command line, typed and strict (spec §0), on the
apps' one configuration system (apps/common/config.py)."""

from __future__ import annotations

import pytest

from cl_methods import build_method

YAML = """
method: seq
method_config: {fix_encoder: true, warmup_epochs: 2}
scenario: TIL
trainer: {epochs: 3, lr: 1.0e-4}
backbone: {head: cosine}
data: {name: dir, dir: somewhere}
"""


def test_command_line_beats_yaml_and_booleans_are_strict(run_cl, write_yaml):
    path = write_yaml(YAML)
    cfg = run_cl.load_config(["--config", str(path)])
    assert cfg.seed == 1  # the default seed
    assert cfg.scenario == "TIL" and cfg.trainer.epochs == 3
    assert cfg.name == "run" and cfg.output_dir == "runs/classic/run"
    cfg = run_cl.load_config(
        [
            "--method_config.fix_encoder",
            "False",
            "--trainer.epochs=5",
            "--backbone.cosine_scale_learnable",
            "yes",
            "--seed",
            "3",
            "--config",  # the command line wins whatever the order
            str(path),
            "--data.num_tasks",
            "2",
            "--eval.probe",
            "0",
            "--method_config.fix_old_classifier",
            "true",
        ]
    )
    assert cfg.method_config.fix_encoder is False  # not True: strict parsing
    assert cfg.trainer.epochs == 5 and cfg.seed == 3
    assert cfg.backbone.cosine_scale_learnable is True and cfg.eval.probe is False
    assert cfg.data.num_tasks == 2
    method = build_method("seq", cfg.method_config)
    assert method.config.fix_old_classifier is True and method.config.fix_encoder is False
    assert method.config.warmup_epochs == 2


def test_bad_values_and_unknown_keys_are_errors(run_cl, write_yaml, capsys):
    path = write_yaml(YAML)
    for argv, message in (
        (["--eval.probe", "maybe"], "--eval.probe: Truthy value expected: got maybe"),
        (["--nonsense", "1"], "unknown option --nonsense"),
        (["--trainer.epochs"], "--trainer.epochs: expected one argument"),
        (["--backbone.max_length", "long"], "--backbone.max_length: invalid int value: 'long'"),
        (["--trainer.epochs", "0"], "--trainer.epochs: must be > 0, got 0"),
        (["--trainer.lr", "inf"], "--trainer.lr: must be a finite number"),
        (["--method", "taalm"], "unknown method 'taalm' for run_cl.py; choose one of:"),
    ):
        assert run_cl.main(["--config", str(path), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
    bad = write_yaml("bogus_section: {a: 1}\ntrainer: {epoch: 2}\n", "bad.yaml")
    assert run_cl.main(["--config", str(bad)]) == 2
    assert "unknown key 'bogus_section'" in capsys.readouterr().err
    typo = write_yaml("trainer: {epoch: 2}\n", "typo.yaml")
    assert run_cl.main(["--config", str(typo)]) == 2
    err = capsys.readouterr().err
    assert "typo.yaml: unknown key 'trainer.epoch'; nearest valid keys: trainer.epochs" in err
    with pytest.raises(ValueError, match="unknown option"):
        build_method("seq", {"fix_encodr": True})


def test_sections_are_typed_by_their_dataclasses(run_cl, write_yaml):
    cfg = run_cl.load_config(
        [
            "--config",
            str(write_yaml(YAML)),
            "--trainer.batch_size",
            "16",
            "--method_config.preallocated_classifier",
            "no",
            "--trainer.param_groups",
            "{heads: {lr: 1.0e-3}}",
        ]
    )
    assert cfg.trainer.batch_size == 16 and cfg.trainer.lr == 1e-4
    assert cfg.trainer.param_groups == {"heads": {"lr": 1e-3}}
    assert build_method("seq", cfg.method_config).config.preallocated_classifier is False

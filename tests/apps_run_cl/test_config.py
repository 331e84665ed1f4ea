"""run_cl's configuration: defaults < YAML < command line, typed and strict (spec §0)."""

from __future__ import annotations

import pytest

from cl_methods import TrainerConfig, build_method
from cl_methods.registry import config_from_dict

YAML = """
method: seq
method_config: {fix_encoder: true, warmup_epochs: 2}
scenario: til
trainer: {epochs: 3, lr: 1.0e-4}
backbone: {head: cosine}
data: {name: dir, dir: somewhere}
"""


def test_command_line_beats_yaml_and_booleans_are_strict(run_cl, write_yaml):
    from classic_app.config import load_config

    path = write_yaml(YAML)
    cfg = load_config(["--config", str(path)])
    assert cfg["seed"] == 1  # the default seed
    assert cfg["scenario"] == "TIL" and cfg["trainer"]["epochs"] == 3
    assert cfg["name"] == "run" and cfg["output_dir"] == "runs/classic/run"
    cfg = load_config(
        [
            "--config",
            str(path),
            "--method_config.fix_encoder",
            "False",
            "--trainer.epochs=5",
            "--backbone.cosine_scale_learnable",
            "yes",
            "--seed",
            "3",
            "--data.num_tasks",
            "2",
            "--eval.probe",
            "0",
            "--method_config.fix_old_classifier",
            "true",
        ]
    )
    assert cfg["method_config"]["fix_encoder"] is False  # not True: strict parsing
    assert cfg["trainer"]["epochs"] == 5 and cfg["seed"] == 3
    assert cfg["backbone"]["cosine_scale_learnable"] is True and cfg["eval"]["probe"] is False
    assert cfg["data"]["num_tasks"] == 2
    method = build_method("seq", cfg["method_config"])
    assert method.config.fix_old_classifier is True and method.config.fix_encoder is False
    assert method.config.warmup_epochs == 2


def test_bad_values_and_unknown_keys_are_errors(run_cl, write_yaml):
    from classic_app.config import load_config

    path = write_yaml(YAML)
    for argv in (
        ["--eval.probe", "maybe"],
        ["--nonsense", "1"],
        ["--trainer.epochs"],
        ["--backbone.max_length", "long"],
    ):
        with pytest.raises(SystemExit):
            load_config(["--config", str(path), *argv])
    with pytest.raises(SystemExit):
        load_config(["--config", str(write_yaml("bogus_section: {a: 1}\n", "bad.yaml"))])
    with pytest.raises(ValueError, match="not a boolean"):
        build_method("seq", {"fix_encoder": "maybe"})
    with pytest.raises(ValueError, match="unknown option"):
        config_from_dict(TrainerConfig, {"epochz": 1})


def test_free_sections_are_typed_by_their_dataclasses(run_cl, write_yaml):
    from classic_app.config import load_config

    cfg = load_config(
        [
            "--config",
            str(write_yaml(YAML)),
            "--trainer.batch_size",
            "16",
            "--method_config.preallocated_classifier",
            "off",
        ]
    )
    trainer = config_from_dict(TrainerConfig, cfg["trainer"])
    assert trainer.batch_size == 16 and trainer.lr == 1e-4
    assert build_method("seq", cfg["method_config"]).config.preallocated_classifier is False

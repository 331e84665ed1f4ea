"""End-to-end tiny runs of run_cl: every shipped config (tiny sizes through overrides) and the
scenarios on a tiny local dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from cl_methods import available_methods

CONFIGS = Path(__file__).resolve().parents[2] / "apps" / "configs" / "classic"
TINY_TOPIC3 = [
    "--backbone.model",
    "tiny-bert",
    "--data.train_per_class",
    "2",
    "--data.test_per_class",
    "2",
    "--data.num_tasks",
    "2",
    "--trainer.progress",
    "false",
]
TINY_C1K = [
    "--data.num_tasks",
    "2",
    "--data.max_train_per_task",
    "6",
    "--data.max_test_per_task",
    "4",
    "--data.max_train_eval_per_task",
    "4",
    "--trainer.epochs",
    "1",
    "--backbone.max_new_tokens",
    "4",
    "--trainer.progress",
    "false",
]


def results(folder):
    return json.loads((folder / "results.json").read_text())


def shipped(prefix):
    return sorted(p.stem for p in CONFIGS.glob(f"{prefix}*.yaml"))


def test_configs_are_shipped():
    assert shipped("topic3_minilm_") == [
        f"topic3_minilm_{m}"
        for m in ("ewc", "inclora", "nlora", "olora", "replay", "seq", "seq_star", "seqlora")
    ]
    classic = ["concept1k_ewc", "concept1k_replay", "concept1k_seq"]
    assert [n for n in shipped("concept1k_") if n in classic] == classic


@pytest.mark.parametrize("name", shipped("topic3_minilm_"))
def test_topic3_configs_run_tiny(run_cl, shared_data, tmp_path, name):
    method = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["method"]
    if method not in available_methods():
        pytest.skip(f"method {method!r} is not registered on this branch")
    out = tmp_path / name
    assert (
        run_cl.main(
            ["--config", str(CONFIGS / f"{name}.yaml"), *TINY_TOPIC3, "--output_dir", str(out)]
        )
        == 0
    )
    data = results(out)
    assert data["tasks"] == ["task0", "task1"]
    assert data["config"]["backbone"]["model"] == "tiny-bert"
    assert data["metrics"]["ap"] is not None and data["metrics"]["bwt"] is not None


@pytest.mark.parametrize("name", shipped("concept1k_"))
def test_concept1k_configs_run_tiny_with_iil_metrics(run_cl, shared_data, tmp_path, name):
    out = tmp_path / name
    assert (
        run_cl.main(
            ["--config", str(CONFIGS / f"{name}.yaml"), *TINY_C1K, "--output_dir", str(out)]
        )
        == 0
    )
    metrics = results(out)["metrics"]
    assert all(metrics[k] is not None for k in ("ma", "ga", "mf", "gf"))


def _yaml(colour_dir, scenario, method, extra=""):
    return (
        f"method: {method}\nscenario: {scenario}\n"
        "backbone: {model: tiny-bert, kind: encoder, head: linear, max_length: 16}\n"
        f"data: {{name: dir, dir: {colour_dir}}}\n"
        "trainer: {epochs: 2, lr: 1.0e-3, batch_size: 4, progress: false}\n" + extra
    )


@pytest.mark.parametrize("scenario", ["CIL", "TIL"])
def test_seq_learns_the_colour_tasks_and_probes(run_cl, colour_dir, write_yaml, tmp_path, scenario):
    path = write_yaml(
        _yaml(
            colour_dir,
            scenario,
            "seq",
            "method_config: {classifier_lr: 0.05}\neval: {probe: true, probe_epochs: 5}\n",
        )
    )
    out = tmp_path / "run"
    argv = ["--config", str(path), "--output_dir", str(out), "--trainer.epochs", "6"]
    assert run_cl.main(argv) == 0
    data = results(out)
    rows = data["matrix"]
    assert max(rows[i][i] for i in range(3)) > 50.0  # learning beats chance (2 classes)
    if scenario == "TIL":  # TIL predictions are task-local labels
        preds = (out / "predictions" / "after02_task2.jsonl").read_text().splitlines()
        assert all(json.loads(line)["gold"] in (0, 1) for line in preds)
    extra = json.loads((out / "trainer_results.json").read_text())["extra"]
    probes = extra[2][0]
    assert set(probes) == {
        "probe_linear",
        "probe_cosine",
        "probe_prototype",
        "probe_cosine_prototype",
    }


def test_peft_til_and_generative_heads(run_cl, colour_dir, write_yaml, tmp_path):
    path = write_yaml(
        _yaml(colour_dir, "TIL", "peft", "method_config: {targets: [query, value]}\n")
    )
    assert run_cl.main(["--config", str(path), "--output_dir", str(tmp_path / "peft")]) == 0
    pt = ["--method_config.adapter", "prompt_tuning", "--method_config.num_virtual_tokens", "4"]
    assert run_cl.main(["--config", str(path), *pt, "--output_dir", str(tmp_path / "pt")]) == 0
    gen = write_yaml(_yaml(colour_dir, "CIL", "seq"), "gen.yaml")
    out = tmp_path / "gen"
    assert (
        run_cl.main(
            [
                "--config",
                str(gen),
                "--backbone.model",
                "tiny-llama",
                "--backbone.kind",
                "causal_lm",
                "--backbone.prompt",
                "default",
                "--output_dir",
                str(out),
            ]
        )
        == 0
    )
    assert len(results(out)["matrix"]) == 3


def test_generative_cil_by_generation_with_peft(run_cl, colour_dir, write_yaml, tmp_path):
    path = write_yaml(_yaml(colour_dir, "CIL", "peft", "method_config: {num_tasks: 3}\n"))
    out = tmp_path / "gen_peft"
    assert (
        run_cl.main(
            [
                "--config",
                str(path),
                "--backbone.model",
                "tiny-llama",
                "--backbone.kind",
                "causal_lm",
                "--backbone.head",
                "none",
                "--backbone.prompt",
                "default",
                "--backbone.max_new_tokens",
                "3",
                "--backbone.max_length",
                "64",
                "--output_dir",
                str(out),
            ]
        )
        == 0
    )
    data = results(out)
    assert data["config"]["method_config"]["num_tasks"] == 3
    preds = (out / "predictions" / "after01_task0.jsonl").read_text().splitlines()
    assert all("gold" in json.loads(line) for line in preds)


def test_offline_hub_id_fails_with_an_actionable_message(run_cl, colour_dir, write_yaml, tmp_path):
    from common.models import ModelUnavailableError

    path = write_yaml(_yaml(colour_dir, "CIL", "seq"))
    with pytest.raises(ModelUnavailableError, match="huggingface-cli download"):
        run_cl.main(
            [
                "--config",
                str(path),
                "--backbone.model",
                "nobody/no-such-model-xyz",
                "--output_dir",
                str(tmp_path / "x"),
            ]
        )
    assert torch.get_num_threads() >= 1

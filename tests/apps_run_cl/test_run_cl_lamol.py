"""The LAMOL family (lamol g/t, lamol_kd, l2kd, pcll) through run_cl: 3-task tiny runs on the colour
tasks, and every shipped config (topic3 and Concept-1K) on a local GPT-2 folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "apps" / "configs" / "classic"
HELPERS = Path(__file__).resolve().parents[1] / "cl_methods_lamol" / "lamol_tiny.py"
FAMILY = {
    "lamol_g": ("lamol", {"gen_token": "g"}),
    "lamol_t": ("lamol", {"gen_token": "t"}),
    "lamol_kd": ("lamol_kd", {}),
    "l2kd": ("l2kd", {}),
    "pcll": ("pcll", {}),
}
SHIPPED = sorted(f"{data}_{name}" for data in ("topic3", "concept1k") for name in FAMILY)
TINY = {
    "topic3": ["--data.train_per_class", "2", "--data.test_per_class", "2"],
    "concept1k": ["--data.max_train_per_task", "10", "--data.max_test_per_task", "3",
                  "--data.max_train_eval_per_task", "3"],
}  # fmt: skip

COLOUR_YAML = """method: {method}
method_config: {config}
scenario: CIL
backbone: {{model: tiny-llama, kind: causal_lm, head: none, max_length: {max_length},
  max_new_tokens: 6}}
data: {{name: dir, dir: {dir}}}
trainer: {{epochs: {epochs}, lr: 1.0e-2, batch_size: 2, progress: false, weight_decay: 0.0}}
"""


def test_the_family_configs_are_shipped():
    for name in SHIPPED:
        cfg = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
        method, config = FAMILY[name.split("_", 1)[1]]
        assert cfg["method"] == method and cfg["backbone"]["head"] == "none", name
        assert {k: cfg.get("method_config", {}).get(k) for k in config} == config, name


def colour_run(run_cl, colour_dir, write_yaml, tmp_path, name, epochs):
    method, config = FAMILY[name]
    path = write_yaml(
        COLOUR_YAML.format(
            method=method,
            config=json.dumps(config),
            dir=colour_dir,
            epochs=epochs,
            max_length=110 if method == "pcll" else 40,  # PCLL's prompt alone is 62 bytes
        )
    )
    out = tmp_path / name
    assert run_cl.main(["--config", str(path), "--output_dir", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())["matrix"]


@pytest.mark.parametrize("name", list(FAMILY))
def test_three_colour_tasks(run_cl, colour_dir, write_yaml, tmp_path, name):
    out, matrix = colour_run(run_cl, colour_dir, write_yaml, tmp_path, name, epochs=1)
    assert [len(r) for r in matrix] == [3, 3, 3]
    preds = (out / "predictions" / "after02_task0.jsonl").read_text().splitlines()
    assert len(preds) == 6 and all("__ans__" not in json.loads(p)["prediction"] for p in preds)
    stats = json.loads((out / "trainer_results.json").read_text())["train_stats"]
    assert [s["examples"] >= 12 for s in stats] == [True] * 3  # real rows (+ pseudo rows)
    assert stats[0]["examples"] == 12


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILY))
def test_the_colour_tasks_are_learned(run_cl, colour_dir, write_yaml, tmp_path, name):
    _, matrix = colour_run(run_cl, colour_dir, write_yaml, tmp_path, name, epochs=8)
    diagonal = [matrix[i][i] for i in range(3)]
    print(f"{name}: diagonal {diagonal}, final row {matrix[2]}")
    # the first task is learned (later tasks of this random byte-level model at lr 1e-2 are
    # erratic: measured diagonals range from 0 to 83% for them, see the closing note)
    assert matrix[0][0] >= 50.0, matrix


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory, module_file):
    helpers = module_file(HELPERS, "lamol_tiny_helpers", register=False)
    return helpers.save_gpt2_folder(tmp_path_factory.mktemp("gpt2"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_runs_on_a_local_gpt2_folder(
    run_cl, shared_data, gpt2_folder, tmp_path, name
):
    out = tmp_path / name
    argv = ["--config", str(CONFIGS / f"{name}.yaml"), "--output_dir", str(out)]
    argv += ["--backbone.model", str(gpt2_folder), "--data.num_tasks", "3"]
    argv += ["--trainer.epochs", "1", "--backbone.max_new_tokens", "4", "--trainer.progress"]
    argv += ["false", *TINY[name.split("_")[0]]]
    assert run_cl.main(argv) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["backbone"]["model"] == str(gpt2_folder)
    assert [len(r) for r in data["matrix"]] == [3, 3, 3]

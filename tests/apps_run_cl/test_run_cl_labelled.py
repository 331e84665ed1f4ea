"""run_cl on the labelled datasets: every shipped CLINC150/BANKING77 config at tiny sizes, one real
MiniLM smoke run per dataset, and FewRel/TACRED from a user's folder (data.dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "apps" / "configs" / "classic"
METHODS = (
    "clser",
    "derpp",
    "ewc",
    "ewc_til",
    "replay",
    "replay_til",
    "seq",
    "seq_star_replay",
    "seq_til",
)
TINY = [
    "--data.train_per_class",
    "2",
    "--data.test_per_class",
    "2",
    "--data.num_tasks",
    "2",
    "--trainer.epochs",
    "1",
    "--trainer.progress",
    "false",
]


def shipped(prefix: str) -> list[str]:
    return sorted(p.stem for p in CONFIGS.glob(f"{prefix}*.yaml"))


def results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def test_intent_configs_are_shipped() -> None:
    for dataset in ("clinc150", "banking77"):
        assert shipped(f"{dataset}_minilm_") == [f"{dataset}_minilm_{m}" for m in METHODS]
        for m in METHODS:
            cfg = yaml.safe_load((CONFIGS / f"{dataset}_minilm_{m}.yaml").read_text())
            assert cfg["data"]["name"] == dataset and cfg["backbone"]["model"] == "minilm"
            assert cfg["scenario"] == ("TIL" if m.endswith("_til") else "CIL")
            assert cfg["backbone"]["max_length"] == {"clinc150": 50, "banking77": 64}[dataset]


@pytest.mark.parametrize("name", shipped("clinc150_minilm_") + shipped("banking77_minilm_"))
def test_intent_configs_run_tiny(run_cl, shared_data, tmp_path, name) -> None:
    out = tmp_path / name
    argv = ["--config", str(CONFIGS / f"{name}.yaml"), "--backbone.model", "tiny-bert", *TINY]
    assert run_cl.main([*argv, "--output_dir", str(out)]) == 0
    data = results(out)
    assert data["tasks"] == ["task0", "task1"]
    per_task = 10 if name.startswith("clinc150") else 11
    sizes = data["config"]["task_sizes"]
    assert sizes["task1"] == {"train": 2 * per_task, "test": 2 * per_task}
    assert data["metrics"]["ap"] is not None and data["metrics"]["bwt"] is not None


@pytest.mark.parametrize("dataset", ["clinc150", "banking77"])
def test_real_minilm_smoke(run_cl, shared_data, tmp_path, dataset) -> None:
    """The shipped SEQ config with the pretrained MiniLM, 4 examples per class, 2 tasks."""
    out = tmp_path / dataset
    argv = ["--config", str(CONFIGS / f"{dataset}_minilm_seq.yaml"), *TINY]
    argv += ["--data.train_per_class", "4", "--output_dir", str(out)]
    assert run_cl.main(argv) == 0
    data = results(out)
    assert data["config"]["backbone"]["model"] == "minilm"
    assert len(data["matrix"]) == 2 and data["hardware"]["runtime_s"] > 0


def _relation_folder(root: Path, labels: list[str]) -> Path:
    root.mkdir(parents=True)
    for split, n in (("train", 3), ("dev", 1), ("test", 2)):
        classes = [
            [
                {
                    "text": f"[E11] head{c} {k} [E12] and [E21] tail{c} [E22] : {lab} .",
                    "semantic_label": lab,
                }
                for k in range(n)
            ]
            for c, lab in enumerate(labels)
        ]
        (root / f"{split}.json").write_text(json.dumps(classes))
    return root


@pytest.mark.parametrize("dataset", ["fewrel", "tacred"])
def test_relation_datasets_from_a_folder(run_cl, write_yaml, tmp_path, dataset) -> None:
    """16 relations (8 tasks x 2, the builders' 8 tasks) in the JSON layout; the first 2 tasks
    run through a generative backbone with heads and the entity prompt."""
    prefix = "org:rel_" if dataset == "tacred" else "relation "
    folder = _relation_folder(tmp_path / dataset, [f"{prefix}{c}" for c in range(16)])
    path = write_yaml(
        "method: seq\nscenario: CIL\n"
        "backbone: {model: tiny-llama, kind: causal_lm, head: linear, max_length: 64,"
        " prompt: relation_classification_state}\n"
        f"data: {{name: {dataset}, dir: {folder}, num_tasks: 2}}\n"
        "trainer: {epochs: 1, lr: 1.0e-3, batch_size: 4, progress: false}\n"
    )
    out = tmp_path / "run"
    assert run_cl.main(["--config", str(path), "--output_dir", str(out)]) == 0
    data = results(out)
    assert data["config"]["task_sizes"] == {
        "task0": {"train": 6, "test": 4},
        "task1": {"train": 6, "test": 4},
    }
    preds = (out / "predictions" / "after01_task1.jsonl").read_text().splitlines()
    assert sorted({json.loads(line)["gold"] for line in preds}) == [2, 3]
    # a folder whose relations do not split into 8 tasks fails at load, naming the file
    bad = _relation_folder(tmp_path / "bad", [f"{prefix}{c}" for c in range(12)])
    with pytest.raises(ValueError, match=r"train.json: 12 classes do not split into 8 equal"):
        run_cl.main(
            [
                "--config",
                str(path),
                "--data.dir",
                str(bad),
                "--output_dir",
                str(tmp_path / "bad_run"),
            ]
        )

"""The ICL prompt builder and the shipped Concept-1K ICL config (one task, no training)."""

from __future__ import annotations

import json
from pathlib import Path

from cl_data.classic import build_prompt

CONFIG = Path(__file__).resolve().parents[2] / "apps" / "configs" / "classic" / "concept1k_icl.yaml"


def test_icl_prompt_puts_demonstrations_before_the_query(run_cl) -> None:
    from classic_app.data import icl_prompt  # on the path once run_cl is loaded

    demos = [{"input": "Is a cat an animal?", "target": "yes"}, {"input": "2+2?", "target": "4"}]
    text = icl_prompt("qa", demos, "Is a rock alive?")
    shots = text.split("\n\n")  # one blank line between demonstrations and the query
    assert shots[0] == build_prompt("qa", "Is a cat an animal?") + " yes"
    assert shots[1] == build_prompt("qa", "2+2?") + " 4"
    assert shots[2:] == [build_prompt("qa", "Is a rock alive?")]
    assert icl_prompt("qa", [], "Is a rock alive?") == build_prompt("qa", "Is a rock alive?")


def test_concept1k_icl_config_runs_one_untrained_task(run_cl, shared_data, tmp_path) -> None:
    out = tmp_path / "icl"
    argv = ["--config", str(CONFIG), "--data.max_test_per_task", "4"]
    argv += ["--data.max_train_eval_per_task", "4", "--method_config.num_demos", "5"]
    assert run_cl.main([*argv, "--output_dir", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["tasks"] == ["task0"] and len(data["matrix"]) == 1
    assert data["config"]["method"] == "icl" and data["config"]["data"]["concept_num_tasks"] == 1
    assert data["metrics"]["ga"] is not None

"""run_cl with per-task prompt tuning on a plain causal LM (peft_type: prompt_tuning, head none)."""

from __future__ import annotations

import json

import torch

from cl_methods.classic import PromptTunedLM

GEN_YAML = """method: peft
scenario: CIL
method_config: {{peft_type: prompt_tuning, num_virtual_tokens: 4}}
backbone: {{model: tiny-llama, kind: causal_lm, head: none, prompt: default, max_length: 64,
  max_new_tokens: 3}}
data: {{name: dir, dir: {dir}, max_train_per_task: 6, max_test_per_task: 3}}
trainer: {{epochs: 1, lr: 1.0e-2, batch_size: 4, progress: false}}
"""


def test_prompt_tuning_on_a_generative_backbone_from_a_config(
    run_cl, colour_dir, write_yaml, tmp_path
):
    path = write_yaml(GEN_YAML.format(dir=colour_dir))
    out = tmp_path / "pt_gen"
    argv = ["--config", str(path), "--output_dir", str(out)]
    assert run_cl.main([*argv, "--method_config.cil_adapter_select", "latest"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert len(data["matrix"]) == 3 and all(len(row) == 3 for row in data["matrix"])
    assert data["config"]["method_config"]["cil_adapter_select"] == "latest"
    preds = (out / "predictions" / "after02_task0.jsonl").read_text().splitlines()
    assert len(preds) == 3 and all("prediction" in json.loads(line) for line in preds)

    cfg = run_cl.load_config([*argv, "--scenario", "TIL"])
    trainer, tasks = run_cl.build_run(cfg)
    trainer.fit(tasks)
    model = trainer.model
    assert isinstance(model, PromptTunedLM) and len(model.prompts) == 3
    assert model.prompts[0].shape == (4, model.config.hidden_size)
    assert trainer.method.config.il_mode == "TIL" and trainer.method.config.adapter == (
        "prompt_tuning"
    )
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["prompts.2"]
    assert not torch.equal(model.prompts[0], model.prompts[2])


def test_prompt_init_texts_agree_between_the_data_and_the_methods():
    """run_cl names the data family; the method looks the init text up itself
    (cl_methods.classic.prompt_init); both packages must hold the spec's texts (3.3)."""
    from cl_data.classic import PROMPT_TUNING_INIT as DATA_TEXTS
    from cl_methods.classic.prompt_init import PROMPT_TUNING_INIT

    assert PROMPT_TUNING_INIT == DATA_TEXTS

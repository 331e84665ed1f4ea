"""The outer loop: checkpoints, validation log, selection rule and resume."""

from __future__ import annotations

import json

import pytest
import torch

from cl_methods.taalm import (
    InnerConfig,
    LoraSettings,
    MetaTrainConfig,
    MetaTrainer,
    TrainAttention,
    ValidationConfig,
    add_lora,
    select_checkpoint,
)

LORA = LoraSettings(r=2, alpha=4, dropout=0.0)


def test_selection_rule():
    log = [
        {"step": 0, "acc": 0.25, "nll": 3.0},
        {"step": 10, "acc": 0.5, "nll": 2.5},
        {"step": 20, "acc": 0.5, "nll": 2.0},
        {"step": 30, "acc": 0.5, "nll": 2.0},
        {"step": 40, "acc": 0.4, "nll": 1.0},
    ]
    assert select_checkpoint(log)["step"] == 20  # best acc, then lower nll, then earlier step
    with pytest.raises(ValueError):
        select_checkpoint([])


def _trainer(tiny_llama, random_sample, out, epochs=2, **overrides):
    phi = TrainAttention.from_causal_lm(tiny_llama(0), lora=LORA)
    theta = add_lora(tiny_llama(1), LORA)
    g = torch.Generator().manual_seed(0)
    train = [random_sample(g, doc_len=12, probe_len=8) for _ in range(7)]
    val = [random_sample(g, doc_len=12, probe_len=8) for _ in range(4)]
    cfg = MetaTrainConfig(
        epochs=epochs,
        batch_size=3,  # 7 samples: chunks of 3, 3 and a partial 1
        phi_lr=1e-2,
        eval_every=2,
        inner=InnerConfig(lr=1e-2),
        validation=ValidationConfig(epochs=1, batch_size=2, lr=1e-2),
        **overrides,
    )
    return MetaTrainer(phi, theta, train, val, cfg, out, progress=False)


def test_run_writes_checkpoints_log_and_selection(tiny_llama, random_sample, tmp_path):
    trainer = _trainer(tiny_llama, random_sample, tmp_path)
    before = {k: v.detach().clone() for k, v in trainer.phi.trainable_parameters().items()}
    result = trainer.run()
    assert result["steps"] == 6 and result["done"]
    log = json.loads((tmp_path / "validation_log.json").read_text())
    assert [e["step"] for e in log] == [0, 2, 4, 6]
    selected = json.loads((tmp_path / "selected.json").read_text())
    assert selected == select_checkpoint(log)
    for e in log:
        assert (
            tmp_path / "checkpoints" / f"step_{e['step']:06d}" / "train_attention.json"
        ).is_file()
    after = trainer.phi.trainable_parameters()
    assert any(not torch.equal(before[k], after[k].detach()) for k in before)


def test_last_step_off_the_interval_is_not_validated_by_default(
    tiny_llama, random_sample, tmp_path
):
    """The released code validates at multiples of the interval only: with 3 steps and an
    interval of 2 the selection sees steps 0 and 2; ``validate_last=True`` adds step 3."""
    assert MetaTrainConfig().validate_last is False
    trainer = _trainer(tiny_llama, random_sample, tmp_path / "released", epochs=1)
    result = trainer.run()
    assert result["steps"] == 3 and result["done"]
    assert [e["step"] for e in result["log"]] == [0, 2]
    log = json.loads((tmp_path / "released" / "validation_log.json").read_text())
    assert [e["step"] for e in log] == [0, 2]
    assert json.loads((tmp_path / "released" / "selected.json").read_text())["step"] in (0, 2)
    assert not (tmp_path / "released" / "checkpoints" / "step_000003").exists()
    last = _trainer(tiny_llama, random_sample, tmp_path / "last", epochs=1, validate_last=True)
    assert [e["step"] for e in last.run()["log"]] == [0, 2, 3]
    assert (tmp_path / "last" / "checkpoints" / "step_000003").is_dir()


def test_resume_continues_to_the_same_result(tiny_llama, random_sample, tmp_path):
    full = _trainer(tiny_llama, random_sample, tmp_path / "full")
    full.run()
    first = _trainer(tiny_llama, random_sample, tmp_path / "cut")
    assert not first.run(stop_after=3)["done"]  # "interrupted" after step 3 (state at step 2)
    second = _trainer(tiny_llama, random_sample, tmp_path / "cut")
    result = second.run()
    assert result["done"] and result["steps"] == 6
    for k, v in full.phi.trainable_parameters().items():
        assert torch.equal(v, second.phi.trainable_parameters()[k]), k
    assert json.loads((tmp_path / "cut" / "validation_log.json").read_text()) == json.loads(
        (tmp_path / "full" / "validation_log.json").read_text().replace("/full/", "/cut/")
    )


def test_resume_refuses_another_configuration(tiny_llama, random_sample, tmp_path):
    _trainer(tiny_llama, random_sample, tmp_path, epochs=1).run(stop_after=1)
    with pytest.raises(ValueError, match="another configuration"):
        _trainer(tiny_llama, random_sample, tmp_path, epochs=2).run()

"""TAALM deployment: phi's checkpoints, phi's weights inside each combined method's loss."""

from __future__ import annotations

import json

import pytest
import torch

from cl_methods import TaskContext, build_method
from cl_methods.methods.mixreview import MixReview
from cl_methods.methods.recadam import RecAdam
from cl_methods.taalm import (
    LoraSettings,
    ModelUnavailableError,
    TrainAttention,
    add_lora,
    deployment_weighted_loss,
    load_causal_lm,
    load_train_attention,
    read_train_attention_meta,
    save_train_attention,
)

LORA = LoraSettings(r=2, alpha=4, dropout=0.0)


@pytest.fixture()
def trained_phi(tiny_llama, tmp_path):
    """A phi whose weights vary across tokens, saved with its backbone folder."""
    backbone = tmp_path / "phi_backbone"
    tiny_llama(5).save_pretrained(backbone)
    phi = TrainAttention.from_causal_lm(
        load_causal_lm(str(backbone), quantization="none"), lora=LORA
    )
    with torch.no_grad():
        phi.head.weight.normal_(0, 1.0)
        phi.head.bias.fill_(0.0)
        for n, p in phi.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    save_train_attention(phi, tmp_path / "ckpt", backbone=str(backbone), lora=LORA)
    return phi, tmp_path / "ckpt"


def test_checkpoint_round_trip(trained_phi):
    phi, path = trained_phi
    meta = read_train_attention_meta(path)
    assert meta["lora"]["r"] == 2 and "head.bias" in meta["trainable"]
    loaded = load_train_attention(path, quantization="none")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    phi.eval()
    torch.testing.assert_close(loaded.token_weights(ids), phi.token_weights(ids))


def test_offline_hub_model_fails_with_an_actionable_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="--preset smoke") as info:
        load_causal_lm("meta-llama/Llama-2-7b-hf", quantization="none")
    assert "huggingface-cli login" in str(info.value) and "local folder" in str(info.value)


def _batch(seed=0):
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def test_taalm_uses_frozen_phi_weights_in_l_w(trained_phi, tiny_llama):
    phi, path = trained_phi
    method = build_method("taalm", {"phi_checkpoint": str(path), "phi_quantization": "none"})
    theta = method.prepare(add_lora(tiny_llama(1), LORA))
    batch = _batch()
    loss, out = method.forward_loss(batch, theta)
    phi.eval()
    with torch.no_grad():
        w = phi.token_weights(batch["input_ids"], batch["attention_mask"])
    assert w.std() > 0.05  # non-trivial weights
    expected = deployment_weighted_loss(out.logits, batch["input_ids"], batch["attention_mask"], w)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(p.grad is None for p in method.phi.parameters())


def test_taalm_with_kadapter_recadam_and_mixreview(trained_phi, tiny_llama, tmp_path):
    phi, _ = trained_phi
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"ids": [1, 5 + i, 7, 9]}) + "\n" for i in range(4)))
    method = build_method(
        "taalm",
        {
            "combine_with": ("mixreview", "recadam", "kadapter"),
            "kadapter": {"taps": (1,), "dropout": 0.0},
            "mixreview": {"replay_files": (str(replay),)},
        },
    )
    assert [p.name for p in method.parts] == ["kadapter", "recadam", "mixreview"]
    method.attach_train_attention(phi)
    model = method.prepare(tiny_llama(1))

    def collate(records):
        return {
            "input_ids": torch.tensor([r["ids"] for r in records]),
            "attention_mask": torch.ones(len(records), 4, dtype=torch.long),
        }

    task = TaskContext(index=0, name="lama", collate=collate)
    method.on_task_start(task, model)
    params = method.trainable_parameters(model)
    opt = method.configure_optimizer(params, lambda ps: torch.optim.AdamW(ps, lr=1e-4))
    assert isinstance(opt, RecAdam)
    rows = method.batch_examples(task, [{"ids": [1, 3, 4, 2]}, {"ids": [1, 6, 8, 2]}])
    batch = collate(rows)
    assert batch["input_ids"].shape[0] == 4  # 2 documents + 2 replay documents
    loss, out = method.forward_loss(batch, model)
    with torch.no_grad():
        w = phi.token_weights(batch["input_ids"], batch["attention_mask"])
    expected = deployment_weighted_loss(out.logits, batch["input_ids"], batch["attention_mask"], w)
    torch.testing.assert_close(loss, expected)  # phi weighs the replay documents too
    loss.backward()
    opt.step()
    assert isinstance(method.parts[2], MixReview) and method.state_dict()


def test_taalm_with_rho1_weights_the_kept_tokens(trained_phi, tiny_llama):
    phi, _ = trained_phi
    method = build_method("taalm", {"combine_with": ("rho1",)})
    method.attach_train_attention(phi)
    theta = add_lora(tiny_llama(1), LORA)
    theta = method.prepare(theta)
    loss, _ = method.forward_loss(_batch(), theta)
    assert torch.isfinite(loss)


def test_taalm_configuration_errors():
    with pytest.raises(ValueError, match="cannot combine"):
        build_method("taalm", {"combine_with": ("ckl_oracle",)})
    with pytest.raises(TypeError, match="anneal"):  # a part's section takes its own keys only
        build_method("taalm", {"recadam": {"anneal": 0.1}})
    method = build_method("taalm", {"combine_with": ("recadam",), "recadam": {"anneal_t0": 7.0}})
    assert method.part("recadam").config.anneal_t0 == 7.0
    method = build_method("taalm")
    with pytest.raises(RuntimeError, match="phi_checkpoint"):
        method.prepare(torch.nn.Linear(2, 2))

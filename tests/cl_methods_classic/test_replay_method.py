"""The ``replay`` method and the replay/EWC components end to end: herding with the default
features (causal and seq2seq models), the ratio buffer, dataset-level replay, and EWC on a
method of one's own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from classic_tiny import collate, tasks, tiny_llama, trainer
from transformers import T5Config, T5ForConditionalGeneration

from cl_methods import Method, MethodConfig, build_method
from cl_methods.ewc import EWCOptions, EWCRegularizer, empirical_fisher
from cl_methods.replay import Replay, ReplayOptions, herding_select, last_token_features


def test_replay_method_herding_with_default_features(tmp_path: Path) -> None:
    method = build_method("replay", {"replay_selection": "herding", "replay_buffer_size": 8})
    assert method.replay is not None and method.config.replay
    stream = tasks()
    model = tiny_llama()
    snapshots = []

    def evaluate(model, task, accelerator):
        if task.name == stream[0].name and not snapshots:
            snapshots.append(last_token_features(model, stream[0].train, collate))
        return 0.0

    trainer(model, method, tmp_path, evaluate, epochs=1).fit(stream)
    feats = snapshots[0]
    assert feats.shape == (6, 16)
    # after task 0 (4 classes seen at most): each class holds its herding pick(s) in order
    rows0 = stream[0].train
    labels0 = [r["label_idx_cil"] for r in rows0]
    kept0 = [r for r in method.replay.buffer.items if r["label_idx_cil"] < 4]
    for c in sorted(set(labels0)):
        idx = [i for i, lab in enumerate(labels0) if lab == c]
        first = rows0[idx[herding_select(feats[idx], 1)[0]]]
        assert next(r for r in kept0 if r["label_idx_cil"] == c) == first


def test_last_token_features_on_seq2seq_and_padding() -> None:
    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=32,
        d_model=16,
        d_ff=32,
        d_kv=4,
        num_heads=2,
        num_layers=1,
        num_decoder_layers=1,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    t5 = T5ForConditionalGeneration(cfg).eval()
    rows = [{"ids": [5, 6, 7, 1]}, {"ids": [8, 1]}]

    def right_pad(batch_rows):
        width = max(len(r["ids"]) for r in batch_rows)
        ids = torch.tensor([r["ids"] + [0] * (width - len(r["ids"])) for r in batch_rows])
        return {"input_ids": ids, "attention_mask": (ids != 0).long(), "labels": ids}

    feats = last_token_features(t5, rows, right_pad, batch_size=2)
    alone = last_token_features(t5, rows[1:], right_pad)
    assert feats.shape == (2, 16)
    assert torch.allclose(feats[1], alone[0], atol=1e-5)  # padding does not change the feature


def test_ratio_and_dataset_level_replay(tmp_path: Path) -> None:
    method = build_method(
        "replay", {"replay_mode": "ratio", "replay_ratio": 0.5, "replay_batch_level": False}
    )
    sizes: list[int] = []
    stream = tasks()
    for task in stream:
        task.collate = lambda rows: (sizes.append(len(rows)), collate(rows))[1]
    result = trainer(tiny_llama(), method, tmp_path, epochs=1, batch_size=3).fit(stream)
    assert len(method.replay.buffer) == 6  # floor(0.5 * 6) per task
    # task 1 trains on its 6 rows plus the 3 rows kept from task 0
    assert result.train_stats[1]["examples"] == 9 and result.train_stats[0]["examples"] == 6
    assert sizes == [3, 3, 3, 3, 3]


@dataclass
class ScaledConfig(EWCOptions, ReplayOptions, MethodConfig):
    scale: float = 2.0


class ScaledLoss(Method):
    """A method of one's own holding the EWC and replay components, with its own loss: EWC's
    Fisher must use it."""

    config_class = ScaledConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.ewc = EWCRegularizer(self.config)
        self.replay = Replay.from_options(self.config)

    def on_task_start(self, task, model):
        super().on_task_start(task, model)
        self.ewc.start_task(model)

    def forward_loss(self, batch, model):
        out = model(**batch)
        return out.loss * self.config.scale, out

    def penalty(self, model):
        return self.ewc.penalty()

    def on_task_end(self, task, model):
        self.ewc.end_task(task, model, self.forward_loss)


def test_ewc_component_uses_the_method_loss(tmp_path: Path) -> None:
    stream = tasks()
    method = ScaledLoss(ScaledConfig(ewc_lambda=1.0))
    model = tiny_llama()
    model.requires_grad_(True)
    trainer(model, method, tmp_path, epochs=1).fit(stream[:1])
    params = list(model.parameters())
    model.eval()
    plain = empirical_fisher(
        params, stream[0].train, collate, lambda b: model(**b).loss, batch_size=2, progress=False
    )
    for (name, _), f in zip(model.named_parameters(), plain):
        assert method.replay is None  # replay off by default
        assert torch.allclose(method.ewc.fisher[name], 4.0 * f, rtol=1e-4, atol=1e-10)  # scale**2


def test_last_token_features_prefers_the_model_features_method() -> None:
    class WithFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(10, 3)

        def features(self, input_ids, attention_mask=None):
            return self.emb(input_ids).sum(1)

    model = WithFeatures()
    rows = [{"ids": [1, 2]}, {"ids": [3, 4]}]

    def plain(batch_rows):
        ids = torch.tensor([r["ids"] for r in batch_rows])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}

    got = last_token_features(model, rows, plain)
    assert torch.allclose(got, model.emb(torch.tensor([[1, 2], [3, 4]])).sum(1).detach())

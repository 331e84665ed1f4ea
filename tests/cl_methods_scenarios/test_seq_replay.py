"""SEQ* with replay (the codebase's headline SEQ* runs: ``--is_replay True
--Replay_buffer_size <number of classes>``): the Replay component wired into ``seq``."""

from __future__ import annotations

import pytest

from cl_methods import build_method

SEQ_STAR = {
    "fix_encoder": True,
    "warmup_epochs": 1,
    "fix_old_classifier": True,
    "preallocated_classifier": True,
}


def recording(tiny, space):
    """The toy stream, each task's collate recording the labels of every training batch."""
    seen: list[tuple[str, list[int]]] = []
    tasks = tiny.tasks(space)
    for task in tasks:

        def collate(rows, name=task.name):
            seen.append((name, [r["label"] for r in rows]))
            return tiny.collate(rows)

        task.collate = collate
    return tasks, seen


def test_seq_star_with_replay_mixes_buffer_rows_into_later_batches(
    bert_heads, space, tiny, tmp_path
) -> None:
    options = {**SEQ_STAR, "replay": True, "replay_buffer_size": 5, "replay_label_key": "label"}
    method = build_method("seq", options)
    assert method.replay is not None
    tasks, seen = recording(tiny, space)
    model = bert_heads(head="cosine")
    tiny.run(model, method, tasks, tmp_path)
    first = [labels for name, labels in seen if name == "t0"]
    second = [labels for name, labels in seen if name == "t1"]
    assert first and all(len(b) <= 4 and max(b) < 2 for b in first)  # no buffer in task 0
    for batch in second:  # n new rows (classes 2-4), then n buffer rows (classes 0-1 only)
        n = len(batch) // 2
        assert len(batch) == 2 * n and min(batch[:n]) >= 2 and max(batch[n:]) < 2
    # M = number of classes: one row per class once all 5 are seen, in the method state
    buffer = method.replay.buffer
    assert sorted(c for (c,) in buffer.item_classes) == [0, 1, 2, 3, 4]
    state = method.state_dict()
    assert state["encoder_frozen"] and len(state["replay"]["buffer"]["items"]) == 5
    # the SEQ* options still hold with replay on: the backbone is frozen for good
    assert all(not p.requires_grad for p in model.backbone.parameters())
    clone = build_method("seq", options)
    clone.load_state_dict(state)
    assert clone.replay.buffer.items == buffer.items and clone.encoder_frozen


def test_seq_without_replay_has_no_buffer_and_rejects_one(bert_heads, space, tiny, tmp_path):
    method = build_method("seq", SEQ_STAR)
    assert method.replay is None and "replay" not in method.state_dict()
    tasks, seen = recording(tiny, space)
    tiny.run(bert_heads(), method, tasks, tmp_path)
    assert all(len(b) <= 4 and min(b) >= 2 for name, b in seen if name == "t1")
    with pytest.raises(ValueError, match="replay is off"):
        method.load_state_dict({"encoder_frozen": True, "replay": {"buffer": {}, "draws": 0}})


def test_seq_replay_options_are_command_line_keys() -> None:
    method = build_method("seq", {"replay": True, "replay_buffer_size": 150})
    assert method.config.replay_buffer_size == 150 and method.config.replay_batch_level

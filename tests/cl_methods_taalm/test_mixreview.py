"""Mix-review at the method level (plain loop): batch composition, replay files (D6), the cycled
stream reshuffled per period, and the state round trip."""

from __future__ import annotations

import json

import pytest

from cl_methods import TaskContext, build_method
from cl_methods.methods.mixreview import ReplayStream


def _files(tmp_path, records, per_file=3):
    paths = []
    for k in range(0, len(records), per_file):
        path = tmp_path / f"replay_{k}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records[k : k + per_file]))
        paths.append(str(path))
    (tmp_path / "not_listed.jsonl").write_text(json.dumps({"id": "stray"}) + "\n")
    return paths


def test_batches_have_n_plus_floor_nr_documents(tmp_path):
    replay = [{"id": f"r{i}"} for i in range(5)]
    files = _files(tmp_path, replay)
    for ratio, expected in ((1.0, [8, 6, 2]), (0.5, [6, 4, 1]), (0.0, [4, 3, 1])):
        method = build_method("mixreview", {"replay_files": tuple(files), "replay_ratio": ratio})
        task = TaskContext(index=0, name="period")
        method.on_task_start(task, None)
        sizes, seen = [], set()
        for n in (4, 3, 1):
            train = [{"id": f"t{i}"} for i in range(n)]
            out = method.batch_examples(task, train)
            assert out[:n] == train  # the training documents first, untouched
            sizes.append(len(out))
            seen |= {r["id"] for r in out[n:]}
        assert sizes == expected
        assert "stray" not in seen  # only the listed files (D6)


def test_stream_cycles_each_pass_is_a_permutation_and_periods_reshuffle():
    stream = ReplayStream(4, seed=7, task_index=0)
    first = stream.indices(0, 12)
    for p in range(3):
        assert sorted(first[4 * p : 4 * p + 4]) == [0, 1, 2, 3]
    assert first[:4] != first[4:8] or first[4:8] != first[8:12]  # passes reshuffle
    assert ReplayStream(4, seed=7, task_index=0).indices(5, 3) == first[5:8]  # pure function
    other = [ReplayStream(50, 7, t).indices(0, 50) for t in (0, 1)]
    assert other[0] != other[1]  # every period reshuffles


def test_state_round_trip_resumes_the_stream(tmp_path):
    replay = [{"id": f"r{i}"} for i in range(7)]
    files = _files(tmp_path, replay)
    task = TaskContext(index=1, name="p1")

    def draws(method, calls):
        return [method.batch_examples(task, [{"id": "t"}] * 2)[2:] for _ in range(calls)]

    full = build_method("mixreview", {"replay_files": tuple(files)})
    full.on_task_start(task, None)
    expected = draws(full, 6)

    cut = build_method("mixreview", {"replay_files": tuple(files)})
    cut.on_task_start(task, None)
    assert draws(cut, 4) == expected[:4]
    state = cut.state_dict()
    assert state == {"task": 1, "position": 8}

    resumed = build_method("mixreview", {"replay_files": tuple(files)})
    resumed.load_state_dict(state)  # the trainer restores state before on_task_resume
    resumed.on_task_resume(task, None)
    assert draws(resumed, 2) == expected[4:]
    with pytest.raises(ValueError, match="belongs to task 1"):
        resumed.on_task_resume(TaskContext(index=2, name="p2"), None)


def test_lazy_replay_sequences_are_only_indexed():
    class Lazy:
        def __init__(self):
            self.reads = []

        def __len__(self):
            return 1000

        def __getitem__(self, i):
            self.reads.append(i)
            return {"id": i}

    lazy = Lazy()
    method = build_method("mixreview")
    method.set_replay_records(lazy)
    task = TaskContext(index=0, name="p")
    method.on_task_start(task, None)
    out = method.batch_examples(task, [{"id": "t"}] * 3)
    assert len(out) == 6 and len(lazy.reads) == 3


def test_missing_replay_source_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="replay_files"):
        build_method("mixreview").on_task_start(TaskContext(index=0, name="p"), None)
    method = build_method("mixreview", {"replay_files": (str(tmp_path / "absent.jsonl"),)})
    with pytest.raises(FileNotFoundError, match=r"absent\.jsonl"):
        method.on_task_start(TaskContext(index=0, name="p"), None)
    with pytest.raises(ValueError, match="replay_ratio"):
        build_method("mixreview", {"replay_ratio": -1})

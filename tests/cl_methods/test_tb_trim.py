"""Trimming TensorBoard event files to the steps a resumed run will not log again."""

from __future__ import annotations

from pathlib import Path

from cl_methods.trainer.tb_trim import trim_event_files


def _write(folder: Path, steps: range) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    for step in steps:
        writer.add_scalar("train/loss", 1.0 / step, global_step=step)
    writer.close()
    (path,) = folder.glob("events.out.tfevents.*")
    return path


def _steps(path: Path) -> list[int]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return [e.step for e in EventFileLoader(str(path)).Load() if e.summary.value]


def test_steps_after_the_checkpoint_are_dropped(tmp_path):
    path = _write(tmp_path / "continual", range(1, 7))
    assert trim_event_files(tmp_path, 4) == 2
    assert _steps(path) == [1, 2, 3, 4]
    assert trim_event_files(tmp_path, 4) == 0  # nothing more to drop: file untouched
    assert not list(tmp_path.rglob("*.trim"))


def test_a_record_cut_by_the_kill_is_dropped_with_the_rest(tmp_path):
    path = _write(tmp_path, range(1, 5))
    data = path.read_bytes()
    path.write_bytes(data + data[-30:-5])  # half a record at the end, as after a SIGKILL
    trim_event_files(tmp_path, 2)
    assert _steps(path) == [1, 2]

"""Drop the TensorBoard events a resumed run will log again.

A run resumed from the checkpoint of global step ``s`` replays every step after ``s``; its new
event file would repeat them beside the old file's copies. TensorBoard's own reader hides the
older duplicates, but anything reading the raw files (``tbparse``, ``EventAccumulator`` with
purging off, a pandas export) would see each replayed step twice. :func:`trim_event_files`
rewrites each ``events.out.tfevents.*`` file below the run folder without the events of steps
after ``s``, the same rule ``train_log.jsonl`` follows.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PATTERN = "events.out.tfevents.*"


def _records(path: Path) -> list[bytes]:
    """The file's serialized events; a record cut by the interruption ends the list."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

    records: list[bytes] = []
    try:
        for raw in RawEventFileLoader(str(path)).Load():
            records.append(raw)
    except Exception as err:  # a damaged tail (the kill cut a record): keep what was read
        log.warning("%s: stopped reading at a damaged record (%s)", path, err)
    return records


def trim_event_file(path: Path, step: int) -> int:
    """Rewrite ``path`` without its events of steps after ``step``; returns how many it dropped
    (the file is left untouched when that is 0)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    records = _records(path)
    kept = [raw for raw in records if Event.FromString(raw).step <= step]
    dropped = len(records) - len(kept)
    if dropped == 0:
        return 0
    tmp = path.with_name(path.name + ".trim")
    with open(tmp, "wb") as stream:
        writer = RecordWriter(stream)
        for raw in kept:
            writer.write(raw)
        writer.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)
    return dropped


def trim_event_files(root: Path, step: int) -> int:
    """Trim every TensorBoard event file below ``root`` to steps <= ``step``; the number of
    events dropped."""
    total = 0
    for path in sorted(Path(root).rglob(PATTERN)):
        if path.is_file() and not path.name.endswith(".trim"):
            total += trim_event_file(path, step)
    if total:
        log.info("dropped %d TensorBoard events after step %d (they are logged again)", total, step)
    return total

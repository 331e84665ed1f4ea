"""Fault injection for the tests: stop a run at a chosen point through a trainer callback.

In process::

    callback = StopAfterCheckpoint(step=16)              # raises Interrupted
    ContinualTrainer(model, method, config, callbacks=[callback])
    inject(monkeypatch, callback)                        # apps that build their own trainer

In a subprocess (apps, ``accelerate launch``)::

    python tests/fault_injection.py --kill-after-step 20 apps/reproduce_nlora.py --args ...

runs the script as ``__main__`` with a callback that SIGKILLs the process once the checkpoint
at (or after) global step 20 is committed (``--when staged``: written but not yet committed, i.e.
inside the checkpoint write; ``--status task_done``: only a task-boundary checkpoint).
Production code holds no test hook: this module adds
the callback to every ContinualTrainer the script builds.
"""

from __future__ import annotations

import argparse
import os
import runpy
import signal
import sys

from cl_methods import ContinualTrainer, TrainerCallback, TrainerView


class Interrupted(Exception):
    """Raised by a callback to stop a run in process, as if it had been killed."""


class StopAfterCheckpoint(TrainerCallback):
    """Stop the run right after the first checkpoint committed at global step >= ``step``:
    ``action="raise"`` raises :class:`Interrupted`, ``"sigkill"`` kills the process (no
    clean-up at all, like a power cut)."""

    def __init__(
        self, step: int, action: str = "raise", when: str = "saved", status: str | None = None
    ) -> None:
        if action not in ("raise", "sigkill") or when not in ("saved", "staged"):
            raise ValueError(f"bad fault: action={action!r}, when={when!r}")
        if status not in (None, "in_task", "task_done"):
            raise ValueError(f"bad fault: status={status!r}")
        self.step, self.action, self.when, self.status = int(step), action, when, status
        self.fired_at: TrainerView | None = None

    def _fire(self, view: TrainerView) -> None:
        if view.global_step < self.step or self.status not in (None, view.status):
            return
        self.fired_at = view
        if self.action == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise Interrupted(f"stopped after the checkpoint at global step {view.global_step}")

    def on_checkpoint_saved(self, view: TrainerView) -> None:
        if self.when == "saved":
            self._fire(view)

    def on_checkpoint_staged(self, view: TrainerView) -> None:
        if self.when == "staged":
            self._fire(view)


def inject(monkeypatch, *callbacks: TrainerCallback) -> None:
    """Every ContinualTrainer built while ``monkeypatch`` is active gets ``callbacks``."""
    original = ContinualTrainer.__init__

    def init(self, *args, **kwargs):
        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), *callbacks]
        original(self, *args, **kwargs)

    monkeypatch.setattr(ContinualTrainer, "__init__", init)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-after-step", type=int, required=True)
    parser.add_argument("--when", choices=("saved", "staged"), default="saved")
    parser.add_argument(
        "--status",
        choices=("in_task", "task_done"),
        default=None,
        help="only a checkpoint of this kind (task_done: at a task boundary)",
    )
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    callback = StopAfterCheckpoint(
        args.kill_after_step, action="sigkill", when=args.when, status=args.status
    )
    original = ContinualTrainer.__init__

    def init(self, *a, **kw):
        kw["callbacks"] = [*kw.get("callbacks", ()), callback]
        original(self, *a, **kw)

    ContinualTrainer.__init__ = init  # this process runs only the script below
    sys.argv = [args.script, *args.args]
    sys.path[0] = os.path.dirname(os.path.abspath(args.script))  # as `python script.py` does
    runpy.run_path(args.script, run_name="__main__")


if __name__ == "__main__":
    main()

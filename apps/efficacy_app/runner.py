"""Run the study's runs one at a time, resumably (issue 17).

Each run trains in ``<work>/<run>/run`` (checkpoints, predictions: large, never committed; the
child's log beside it in ``<work>/<run>/log.txt``) through
``apps/run_cl.py`` in a child process; when it finishes, its ``results.json``, ``results.md`` and
``run_config.yaml`` and the plan (``plan.json``: the template and flags that define it) are copied
to ``<study>/<run>`` and the work folder is deleted. A run whose study folder holds a complete
``results.json`` with the same plan is skipped; an interrupted one (work folder without results)
is restarted from scratch; one whose plan changed (a new budget) is rerun. One line per run.

Several drivers may share one grid (e.g. one per core, each with one thread): a driver claims a
run before it starts it (``<work>/<run>.claim``, created atomically, holding its pid), and the
others skip a run claimed by a live process. A claim left by a dead process is taken over.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .grid import TEMPLATES, Run

RUN_CL = Path(__file__).resolve().parents[1] / "run_cl.py"
KEPT = ("results.json", "results.md", "run_config.yaml")
PLAN = "plan.json"


@dataclass
class Outcome:
    run: Run
    status: str  # done | skipped | unavailable | failed
    detail: str = ""
    seconds: float = 0.0


def unavailable_reason(run: Run, root: Path = TEMPLATES) -> str | None:
    """Why ``run`` cannot run on this branch (its method, or an option of it, is not registered),
    or None."""
    from cl_methods import available_methods, get_method_class

    path = run.method.template_path(root)
    if not path.is_file():
        return f"method template {path} not found"
    template = yaml.safe_load(path.read_text()) or {}
    method = str(template.get("method", "seq"))
    if method not in available_methods():
        return f"method not registered: {method!r} (not on this branch)"
    options = set((template.get("method_config") or {}).keys())
    options |= {
        f.split("=", 1)[0].removeprefix("--method_config.")
        for f in run.method.flags
        if f.startswith("--method_config.")
    }
    known = {f.name for f in dataclasses.fields(get_method_class(method).config_class)}
    missing = sorted(options - known)
    if missing:
        return (
            f"method not registered: {method!r} has no option {', '.join(missing)} on this branch"
        )
    return None


def config_changes(run: Run, folder: Path, root: Path = TEMPLATES) -> list[str]:
    """How the configuration ``run`` resolves to now (its template as it is now, plus its flags)
    differs from the one saved with the finished run in ``folder`` (``run_config.yaml``): an
    edited template makes the result stale although the plan (template name and flags) is the
    same. Keys the saved run lacks are fields added to the code after it ran: they are not
    counted (the run used the behaviour their defaults keep)."""
    from common import config
    from common.run_folder import differences, flatten
    from run_cl import load_config

    saved = yaml.safe_load((folder / "run_config.yaml").read_text()) or {}
    now = config.plain(load_config(run.argv(folder / "run", root)))
    known = set(flatten(saved))
    now_flat = {k: v for k, v in flatten(now).items() if k in known}
    bad, _ = differences(flatten(saved), now_flat)
    return [d for d in bad if not d.startswith("name ")]


def finished(run: Run, study: Path, root: Path = TEMPLATES) -> bool:
    """True when ``study/<run>`` holds a readable result of the same plan (results are copied
    there only after ``run_cl.py`` exited cleanly, so a result there is a complete run) whose
    saved configuration is the one the plan gives now (:func:`config_changes`)."""
    from cl_eval.errors import EvalInputError
    from cl_eval.results import read_results

    folder = study / run.rel_dir
    try:
        plan = json.loads((folder / PLAN).read_text())
        read_results(folder / "results.json")
        if plan != run.plan_record():
            return False
        return not config_changes(run, folder, root)
    except (OSError, ValueError, EvalInputError, yaml.YAMLError, SystemExit):
        return False  # SystemExit: the plan no longer loads (common.config.ConfigError)


def state(run: Run, study: Path, work: Path) -> str:
    """finished | stale (a result of another plan) | interrupted | new."""
    if finished(run, study):
        return "finished"
    if (study / run.rel_dir / "results.json").exists():
        return "stale"
    if (work / run.rel_dir).exists():
        return "interrupted"
    return "new"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_path(run: Run, work: Path) -> Path:
    return work / f"{run.rel_dir}.claim"


def _holder(path: Path) -> int:
    """The pid written in a claim file (0: unreadable, or gone)."""
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def claim(run: Run, work: Path) -> int | None:
    """Claim ``run`` for this process: None when claimed, else the pid of the live driver that
    holds it. A claim whose process is gone (a killed driver) is taken over."""
    path = _claim_path(run, work)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = _holder(path)
            if holder == os.getpid():
                return None
            if holder and _alive(holder):
                return holder
            path.unlink(missing_ok=True)  # a dead driver's claim
            continue
        with os.fdopen(fd, "w") as stream:
            stream.write(f"{os.getpid()}\n")
        return None
    return -1  # lost a race with another driver twice: leave the run to it


def release(run: Run, work: Path) -> None:
    path = _claim_path(run, work)
    if _holder(path) == os.getpid():
        path.unlink(missing_ok=True)


def child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_OFFLINE", "1")
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    return env


def execute(run: Run, study: Path, work: Path, threads: int | None) -> tuple[bool, str]:
    """Train ``run`` from scratch in its work folder; on success keep its results in the study."""
    folder = work / run.rel_dir
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log = folder / "log.txt"
    out = folder / "run"  # run_cl.py claims an empty or new folder only: the log stays beside it
    cmd = [sys.executable, str(RUN_CL), *run.argv(out)]
    with log.open("w") as stream:
        stream.write(" ".join(cmd) + "\n")
        stream.flush()
        code = subprocess.run(
            cmd, stdout=stream, stderr=subprocess.STDOUT, env=child_env(threads), check=False
        ).returncode
    if code != 0 or not (out / "results.json").exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        return False, f"exit {code} ({tail[0][:200]}); log {log}"
    dest = study / run.rel_dir
    dest.mkdir(parents=True, exist_ok=True)
    # each file appears whole (a second driver's report may read the study at any moment)
    (out / PLAN).write_text(json.dumps(run.plan_record(), indent=1) + "\n")
    for name in (PLAN, *KEPT):
        if (out / name).exists():
            shutil.copy2(out / name, dest / f".{name}.part")
            os.replace(dest / f".{name}.part", dest / name)
    shutil.rmtree(folder)
    return True, ""


def summary(run: Run, study: Path) -> str:
    from common.report import row_mean

    from cl_eval.aggregate import diagonal_mean
    from cl_eval.results import read_results

    res = read_results(study / run.rel_dir / "results.json")
    scale = res.matrix.scale
    if run.method.joint:  # joint training: one row, AP = its mean (see report.py)
        mean = row_mean(res.matrix)
        return "joint AP -" if mean is None else f"joint AP {mean * 100 / scale:.1f}"
    m = res.recompute()
    diag = diagonal_mean(res.matrix)

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v * 100 / scale:.1f}"

    ap, bwt, fg = (f(m.get(k)) for k in ("ap", "bwt", "forgetting"))
    return f"AP {ap} BWT {bwt} forgetting {fg} diag {f(diag)}"


def run_all(
    runs: Sequence[Run],
    study: Path,
    work: Path,
    *,
    threads: int | None = None,
    dry_run: bool = False,
    execute_fn: Callable[[Run, Path, Path, int | None], tuple[bool, str]] = execute,
    say: Callable[[str], None] = print,
    on_done: Callable[[Run], None] | None = None,
) -> list[Outcome]:
    """Run every run not yet finished, in order, one at a time; one line each."""
    outcomes = []
    total = len(runs)
    for i, run in enumerate(runs, 1):
        head = f"[{i}/{total}] {run.title}:"
        reason = unavailable_reason(run)
        if reason:
            outcomes.append(Outcome(run, "unavailable", reason))
            say(f"{head} skipped, {reason}")
            continue
        now = state(run, study, work)
        if now == "finished":
            outcomes.append(Outcome(run, "skipped", "finished"))
            say(f"{head} finished earlier, skipped ({summary(run, study)})")
            continue
        note = {"stale": " (plan changed: rerun)", "interrupted": " (interrupted: restarted)"}
        if dry_run:
            outcomes.append(Outcome(run, "skipped", "dry run"))
            say(f"{head} would run{note.get(now, '')}")
            continue
        holder = claim(run, work)
        if holder is not None:
            outcomes.append(Outcome(run, "skipped", f"claimed by pid {holder}"))
            say(f"{head} running in another driver (pid {holder}), skipped")
            continue
        try:
            if finished(run, study):  # another driver finished it since ``state`` looked
                outcomes.append(Outcome(run, "skipped", "finished"))
                say(f"{head} finished by another driver, skipped ({summary(run, study)})")
                continue
            started = time.time()
            ok, detail = execute_fn(run, study, work, threads)
            seconds = time.time() - started
        finally:
            release(run, work)
        if ok:
            outcomes.append(Outcome(run, "done", "", seconds))
            say(f"{head} done in {seconds:.0f}s{note.get(now, '')} ({summary(run, study)})")
            if on_done is not None:
                on_done(run)
        else:
            outcomes.append(Outcome(run, "failed", detail, seconds))
            say(f"{head} FAILED after {seconds:.0f}s: {detail}")
    return outcomes

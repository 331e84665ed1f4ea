"""The efficacy study driver's logic with tiny stand-ins: grid expansion, skipping finished and
unregistered runs, restarting interrupted ones, and the tables, budget check and plot written
from hand-made results.json files (no training here; the real runs are `nox -s efficacy`)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml
from efficacy_app import grid as G
from efficacy_app.report import Section, write_index, write_section
from efficacy_app.runner import run_all, state, unavailable_reason

N = None


def test_core_grid_expands_in_priority_order():
    runs = G.expand([G.GRIDS["core"]])
    # 3 seeds everywhere, plus seeds 4 and 5 for TIL SeqLoRA and O-LoRA (the forgetting ordering)
    assert len(runs) == 2 * len(G.CORE_METHODS) * 3 + 2 * 2
    til = [(r.method.key, r.seed) for r in runs if r.scenario == "TIL"]
    assert [r.scenario for r in runs[: len(til)]] == ["TIL"] * len(til)
    # seed-major over every method, the slow test's methods first within a seed
    prio = ["seqlora", "olora", "mtl", "mtl_ft"]
    order = prio + [k for k in G.CORE_METHODS if k not in prio]
    n = len(order)
    assert til[:n] == [(m, 1) for m in order]
    assert til[n : 2 * n] == [(m, 2) for m in order]
    assert til[3 * n :] == [("seqlora", 4), ("olora", 4), ("seqlora", 5), ("olora", 5)]
    assert G.GRIDS["core"].seeds_of("CIL", "seqlora") == (1, 2, 3)
    cil = [r.method.key for r in runs if r.scenario == "CIL"]
    assert cil[:4] == ["seq", "replay", "mtl", "mtl_ft"]
    # each method is bounded by the joint row of its family
    assert {G.METHODS[k].bound for k in ("seq", "replay", "ewc", "derpp")} == {"mtl_ft"}
    assert {G.METHODS[k].bound for k in ("seqlora", "olora", "nlora", "kif")} == {"mtl"}
    # the same budget for every method of a dataset; the plan names the run
    assert {tuple(r.dataset.budget.flags()) for r in runs} == {
        tuple(G.DATASETS["topic3"].budget.flags())
    }
    plan = runs[0].plan()
    assert "--scenario=TIL" in plan and "--seed=1" in plan and "--data.name=topic3" in plan


def test_filters_dedup_and_bad_names():
    runs = G.expand(
        [G.GRIDS["core"], G.GRIDS["core"]], methods=["olora"], seeds=[2], scenarios=["TIL"]
    )
    assert [r.title for r in runs] == ["topic3 TIL olora seed 2"]
    ext = G.expand([G.GRIDS["extended"]], datasets=["banking77"])
    assert {r.dataset.name for r in ext} == {"banking77"} and len(ext) == 8 * 3
    assert [(r.method.key, r.seed) for r in ext[:9]] == [
        *[(k, 1) for k in ("seq", "replay", "mtl", "mtl_ft", "seq_star_replay", "derpp")],
        *[("seqlora", 1), ("olora", 1), ("seq", 2)],
    ]
    with pytest.raises(ValueError, match=r"unknown method.*nosuch"):
        G.expand([G.GRIDS["core"]], methods=["nosuch"])


def test_every_template_exists_and_names_its_method():
    for row in G.METHODS.values():
        assert row.template_path().is_file(), row.template


def test_replay_rows_get_a_buffer_that_holds_every_class():
    """The class quota is M // (classes seen): CLINC150 (150 classes) needs M >= 150, which its
    dataset sets by a flag; elsewhere the templates' M = 100 stands and the plan has no flag (so
    the finished topic3 runs keep their plan)."""
    from common import config
    from run_cl import load_config

    clinc, topic3 = G.DATASETS["clinc150"], G.DATASETS["topic3"]
    for key, row in G.METHODS.items():
        for ds in (clinc, topic3, G.DATASETS["banking77"]):
            run = G.Run(ds, "CIL", row, 1)
            cfg = config.plain(load_config(run.argv(Path("/tmp/never-written"))))
            size = (cfg.get("method_config") or {}).get("replay_buffer_size")
            if row.replays:
                assert size == ds.buffer_size, (key, ds.name)
                assert f"M={ds.buffer_size}" in row.label_for(ds)
            flags = [f for f in run.plan() if "replay_buffer_size" in f]
            assert flags == (
                [f"--method_config.replay_buffer_size={ds.replay_buffer}"]
                if row.replays and ds.replay_buffer
                else []
            )
    assert clinc.buffer_size >= 150 and G.DATASETS["banking77"].buffer_size >= 77
    assert G.METHODS["replay"].label_for(clinc) == "Replay (M=150)"


def test_unregistered_method_is_skipped_with_a_line(tmp_path):
    fake = tmp_path / "fake.yaml"
    fake.write_text("method: nosuch_method\n")
    opt = tmp_path / "opt.yaml"
    opt.write_text("method: seq\nmethod_config: {no_such_option: 1}\n")
    rows = [G.MethodRow("fake", "Fake", "fake.yaml"), G.MethodRow("opt", "Opt", "opt.yaml")]
    runs = [G.Run(G.DATASETS["topic3"], "TIL", r, 1) for r in rows]
    assert "method not registered: 'nosuch_method'" in unavailable_reason(runs[0], tmp_path)
    assert "no option no_such_option" in unavailable_reason(runs[1], tmp_path)
    real = G.Run(G.DATASETS["topic3"], "TIL", G.METHODS["olora"], 1)
    assert unavailable_reason(real) is None


def test_finished_skipped_interrupted_restarted_stale_rerun(tmp_path, write_run):
    study, work = tmp_path / "study", tmp_path / "work"
    runs = G.expand([G.GRIDS["core"]], methods=["seqlora", "olora", "mtl"], scenarios=["TIL"])
    runs = runs[:3]  # seqlora, olora, mtl with seed 1
    write_run(study, runs[0], [[90, N], [80, 85]])  # finished
    (work / runs[1].rel_dir).mkdir(parents=True)  # interrupted: a work folder, no result
    (work / runs[1].rel_dir / "junk").write_text("x")
    stale = write_run(study, runs[2], [[70, 70]])  # a result of another plan
    (stale / "plan.json").write_text(json.dumps({"template": "mtl.yaml", "flags": ["--old"]}))
    assert [state(r, study, work) for r in runs] == ["finished", "interrupted", "stale"]

    executed, lines = [], []

    def fake_execute(run, study_dir, work_dir, threads):
        executed.append((run.method.key, threads))
        write_run(study_dir, run, [[88, N], [77, 86]])
        return True, ""

    outcomes = run_all(runs, study, work, threads=1, execute_fn=fake_execute, say=lines.append)
    assert executed == [("olora", 1), ("mtl", 1)]
    assert [o.status for o in outcomes] == ["skipped", "done", "done"]
    assert len(lines) == 3 and "finished earlier, skipped" in lines[0]
    assert "AP 82.5" in lines[0] and "forgetting 10.0" in lines[0]
    assert "interrupted: restarted" in lines[1] and "plan changed: rerun" in lines[2]
    assert "joint AP 88.0" in lines[2]  # MTL: the mean of its one row (88, N) -> 88
    # a failing run is reported, not raised, and the next one still runs
    runs2 = G.expand([G.GRIDS["core"]], methods=["inclora"], scenarios=["TIL"])
    out = run_all(runs2, study, work, execute_fn=lambda *a: (False, "exit 1"), say=lines.append)
    assert [o.status for o in out] == ["failed"] * 3 and "FAILED" in lines[-1]


def test_two_drivers_share_a_grid_through_claims(tmp_path, write_run):
    """A run claimed by a live driver is skipped (its work folder is not wiped as interrupted);
    a dead driver's claim is taken over; the claim is released when the run ends."""
    import subprocess
    import sys

    study, work = tmp_path / "study", tmp_path / "work"
    runs = G.expand([G.GRIDS["core"]], methods=["seqlora", "olora"], scenarios=["TIL"], seeds=[1])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        (work / runs[0].rel_dir).mkdir(parents=True)  # the live driver's run in progress
        (work / f"{runs[0].rel_dir}.claim").write_text(f"{other.pid}\n")
        (work / runs[1].rel_dir.parent).mkdir(parents=True, exist_ok=True)
        (work / f"{runs[1].rel_dir}.claim").write_text(f"{dead.pid}\n")
        executed, lines = [], []

        def fake_execute(run, study_dir, work_dir, threads):
            assert (work_dir / f"{run.rel_dir}.claim").read_text().strip() == str(os.getpid())
            executed.append(run.method.key)
            write_run(study_dir, run, [[88, N], [77, 86]])
            return True, ""

        out = run_all(runs, study, work, execute_fn=fake_execute, say=lines.append)
        assert executed == ["olora"]
        assert [o.status for o in out] == ["skipped", "done"]
        assert f"running in another driver (pid {other.pid})" in lines[0]
        assert (work / runs[0].rel_dir).is_dir()  # not wiped
        assert not (work / f"{runs[1].rel_dir}.claim").exists()  # released
        assert (work / f"{runs[0].rel_dir}.claim").exists()  # the other driver's, untouched
    finally:
        other.kill()
        other.wait()


def _section(methods, unavailable=None):
    planned = G.expand([G.GRIDS["core"]], methods=methods, scenarios=["TIL"], seeds=[1, 2, 3])
    return Section(G.DATASETS["topic3"], "TIL", planned, unavailable or {})


def test_tables_budget_check_and_plot_from_hand_made_results(tmp_path, write_run):
    study = tmp_path / "study"
    section = _section(["seqlora", "olora", "mtl", "derpp"], {"derpp": "method not registered"})
    by = {(r.method.key, r.seed): r for r in section.planned}
    # SeqLoRA forgets task0 (90 -> 50, 70, 60); O-LoRA keeps it; MTL's joint row
    for seed, last in ((1, 50), (2, 70), (3, 60)):
        write_run(study, by["seqlora", seed], [[90, N], [last, 80]], runtime=100 + seed)
        write_run(study, by["olora", seed], [[80, N], [80, 60 + seed]])
    for seed in (1, 2):  # MTL with 2 of its 3 seeds
        write_run(study, by["mtl", seed], [[90, 80 + 10 * (seed - 1)], [N, N]])
    summary = write_section(section, study)
    md = (study / "topic3_TIL.md").read_text()
    assert "PARTIAL" in md and "8 of 12 planned runs" in md
    row = next(line for line in md.splitlines() if line.startswith("| SeqLoRA"))
    # AP: mean of (65, 75, 70) = 70 ± 5; forgetting (40, 20, 30): 30 ± 10; diag 85
    assert "| 1,2,3 | 70.0 ± 5.0 | -30.0 ± 10.0 | 30.0 ± 10.0 | 85.0 ± 0.0 | 102 |" in row
    # MTL: AP = mean of its joint row (90, 80) and (90, 90): 85 and 90 -> 87.5 ± 3.5
    mtl = next(line for line in md.splitlines() if line.startswith("| MTL"))
    assert "| 1,2 | 87.5 ± 3.5 | - | - | - |" in mtl and "reference" in mtl
    # budget: 0.8 x MTL's task1 mean (85) = 68; O-LoRA's diag task1 = 61, 62, 63 fails
    olora = summary["methods"]["olora"]
    assert len(olora["budget_failures"]) == 3 and "task1 61.0 < 0.8 x 85.0" in md
    assert summary["methods"]["seqlora"]["budget_failures"] == []
    assert "not run: method not registered" in md and "derpp" in summary["unavailable"]
    assert summary["missing"] == {"mtl": [3], "derpp": [1, 2, 3]}
    # the cl-eval aggregate summary of each method, and the plot
    agg = json.loads((study / "topic3" / "TIL" / "seqlora" / "summary.json").read_text())
    assert len(agg["runs"]) == 3
    # committed summaries name their runs relative to themselves, not by this machine's paths
    sources = [r.get("source") for r in agg["runs"]]
    assert sources == [f"seed{s}/results.json" for s in (1, 2, 3)], sources
    png = study / "topic3_TIL.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "topic3_TIL.png" in md
    index = write_index([summary], study, ["core"]).read_text()
    assert "8/12" in index and "mtl: 3" in index and "| derpp |" in index
    # the compact headline table of the section, for READMEs
    assert "| SeqLoRA | 1,2,3 | 70.0 ± 5.0 | 30.0 ± 10.0 | 85.0 ± 0.0 | ok |" in index
    assert "| O-LoRA (lambda_1 0.5) | 1,2,3 | 71.0 ± 0.5 |" in index and "3 cells under" in index
    assert "| MTL (joint, upper bound) | 1,2 | 87.5 ± 3.5 | - | - | bound |" in index


def test_no_mtl_means_no_budget_check(tmp_path, write_run):
    study = tmp_path / "study"
    section = _section(["olora"])
    run = dataclasses.replace(section.planned[0])
    write_run(study, run, [[80, N], [80, 60]])
    write_section(section, study, plot=False)
    md = (study / "topic3_TIL.md").read_text()
    assert "no MTL run yet: not checked" in md and not (study / "topic3_TIL.png").exists()


CHILD = """
import sys, types
from pathlib import Path
sys.path.insert(0, {apps!r})
from common.run_folder import claim
out = Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--output_dir=")))
claim(types.SimpleNamespace(resume=False, overwrite=False), out)  # what run_cl.py does first
out.mkdir(parents=True, exist_ok=True)
(out / "results.json").write_text(Path({results!r}).read_text())
"""


def test_execute_hands_run_cl_a_folder_it_accepts(tmp_path, write_run, monkeypatch):
    """run_cl.py refuses an output folder holding files that are not a run: the driver's log
    must not be in it (the first sitting after the reliability merge failed every run so)."""
    from efficacy_app import runner

    run = G.expand([G.GRIDS["core"]], methods=["seq"], seeds=[1], scenarios=["CIL"])[0]
    template = write_run(tmp_path / "template", run, [[90, N], [80, 85]]) / "results.json"
    child = tmp_path / "child.py"
    child.write_text(CHILD.format(apps=str(runner.RUN_CL.parent), results=str(template)))
    monkeypatch.setattr(runner, "RUN_CL", child)
    study, work = tmp_path / "study", tmp_path / "work"
    (work / run.rel_dir).mkdir(parents=True)  # an interrupted earlier attempt
    (work / run.rel_dir / "stale.txt").write_text("x")
    ok, detail = runner.execute(run, study, work, threads=1)
    assert ok, detail
    assert (study / run.rel_dir / "results.json").exists()
    assert (study / run.rel_dir / "plan.json").exists() and not (work / run.rel_dir).exists()


def test_an_edited_template_makes_a_finished_run_stale(tmp_path, write_run):
    """The plan names the template, not its content: the saved configuration is compared with
    what the template gives now, so an edit reruns the run and drops it from the tables."""
    from efficacy_app.runner import config_changes, finished

    root = tmp_path / "templates"
    root.mkdir()
    for row in G.METHODS.values():
        (root / row.template).write_text(row.template_path().read_text())
    run = G.expand([G.GRIDS["core"]], methods=["seq"], seeds=[1], scenarios=["TIL"])[0]
    study = tmp_path / "study"
    folder = write_run(study, run, [[90, N], [80, 85]])
    assert finished(run, study, root) and config_changes(run, folder, root) == []
    (root / "seq.yaml").write_text(
        (root / "seq.yaml").read_text().replace("lr: 1.0e-5", "lr: 3.0e-5")
    )
    assert config_changes(run, folder, root) == ["trainer.lr (saved 1e-05, now 3e-05)"]
    assert not finished(run, study, root)
    # a key the saved run lacks (a field added to the code after it ran) is not a change
    saved = yaml.safe_load((folder / "run_config.yaml").read_text())
    del saved["trainer"]["max_consecutive_nonfinite"]
    (folder / "run_config.yaml").write_text(yaml.safe_dump(saved))
    assert finished(run, study)

"""End-to-end runs of apps/train_attention.py (smoke preset, tiny models, offline)."""

from __future__ import annotations

import json

import pytest
import torch

from cl_methods.taalm import load_train_attention, object_scores


def _run(app, tmp_path, *extra):
    out = tmp_path / "run"
    argv = ["--preset", "smoke", "--output-dir", str(out), "--progress", "false", *extra]
    assert app.main(argv) == 0
    return out


FAST = ["--pool-size", "12", "--val-size", "4", "--epochs", "1", "--eval-every", "1"]
FAST += ["--max-length", "24"]


def test_fast_smoke_run_outputs_and_resume(app, taalm_data, tmp_path):
    out = _run(app, tmp_path, *FAST)
    log = json.loads((out / "validation_log.json").read_text())
    assert [e["step"] for e in log] == [0, 1, 2]  # 8 training records, 4 per phi step
    selected = json.loads((out / "selected.json").read_text())
    assert selected["step"] in {0, 1, 2}
    assert (out / "selected" / "train_attention.safetensors").is_file()
    phi = load_train_attention(out / "selected", quantization="none")
    ids = torch.tensor([[1, 5, 9, 12]])
    w = phi.token_weights(ids)
    assert w.shape == (1, 3) and torch.all((w > 0) & (w < 1))
    config = json.loads((out / "config.json").read_text())
    assert config["train_records"] == 8 and config["val_records"] == 4
    # a rerun with the same arguments finds the finished state and does not train again
    final = out / "checkpoints" / "step_000002" / "train_attention.safetensors"
    stamp = final.stat().st_mtime_ns
    _run(app, tmp_path, *FAST)
    assert json.loads((out / "validation_log.json").read_text()) == log
    assert final.stat().st_mtime_ns == stamp


def test_a_rerun_with_another_seed_is_refused_before_writing(app, taalm_data, tmp_path, capsys):
    """Before: a finished folder rerun with another --seed counted as finished while the smoke
    preset rebuilt models/theta and models/phi from the new seed (the selected phi no longer
    matched its backbone), and a refused rerun still rewrote config.json."""
    out = _run(app, tmp_path, *FAST)
    watched = [out / "config.json", out / "models" / "theta" / "model.safetensors"]
    stamps = [p.stat().st_mtime_ns for p in watched]
    capsys.readouterr()
    argv = ["--preset", "smoke", "--output-dir", str(out), "--progress", "false", *FAST]
    assert app.main([*argv, "--seed", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seed (saved 42, now 7)" in err
    assert app.main([*argv, "--resume", "false"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert [p.stat().st_mtime_ns for p in watched] == stamps
    assert app.main([*argv, "--seed", "7", "--overwrite"]) == 0  # replaces the run
    assert "seed: 7" in (out / "run_config.yaml").read_text()


def test_full_smoke_preset(app, taalm_data, tmp_path):
    """The preset as shipped (a few seconds to a minute on 2 shared cores)."""
    out = _run(app, tmp_path)
    log = json.loads((out / "validation_log.json").read_text())
    assert [e["step"] for e in log] == [0, 4, 8, 12]  # 24 records, batch 4, 2 epochs
    assert json.loads((out / "selected.json").read_text()) in log


def test_paper_preset_needs_a_pool_and_fails_offline_clearly(app, tmp_path, capsys, monkeypatch):
    assert app.main(["--output-dir", str(tmp_path / "none")]) == 2
    assert "--pool: is required" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        json.dumps(
            {
                "text": "Santiago is the capital of Chile.",
                "probe": "Guess the object. \n  subject is Santiago , relation is capital of , "
                "object is Chile",
                "object": "Chile",
            }
        )
        + "\n"
    )
    assert app.main(["--pool", str(pool), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "meta-llama/Llama-2-7b-hf" in err and "--preset smoke" in err


def test_strict_booleans_on_the_command_line(app, tmp_path):
    from common import config

    with pytest.raises(SystemExit):
        config.load(app.SPEC, ["--preset", "smoke", "--output-dir", "x", "--dummy-step", "maybe"])
    args = config.load(
        app.SPEC, ["--preset", "smoke", "--output-dir", "x", "--dummy-step", "false"]
    )
    assert args.dummy_step is False


def test_validation_metrics_agree_with_cl_eval():
    """cl-methods' torch scorer (used in validation) and cl-eval's report metric agree."""
    from cl_eval.ckl import object_token_scores

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 8, 11, generator=g)
    ids = torch.randint(0, 11, (3, 8), generator=g)
    ids[0, 5] = 0
    logits[0, 4, 0] = 10.0  # a correct prediction of id 0
    mask = torch.zeros(3, 7)
    mask[0, 3:5] = 1
    mask[1, 6] = 1
    mask[2, 1:4] = 1
    acc, nll = object_scores(logits, ids, mask)
    ref = object_token_scores(logits, ids, mask)
    assert acc.tolist() == [s.acc for s in ref]
    assert nll.tolist() == pytest.approx([s.nll for s in ref], rel=1e-6)

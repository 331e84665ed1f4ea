"""apps/reproduce_kif.py end to end on a tiny T5 (real long-sequence data), resume, options."""

import json

import pytest


def test_smoke_run_reports_op_bwt_and_the_matrix(smoke_run):
    out, proc = smoke_run
    assert "OP = " in proc.stdout and "BWT = " in proc.stdout
    assert "O-LoRA order 4 (Recurrent-KIF order id 1): mnli, cb, wic" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["tasks"] == ["mnli", "cb", "wic"]
    rows = results["matrix"]
    assert all(v is not None for i, row in enumerate(rows) for v in row[: i + 1])
    summary = json.loads((out / "kif_summary.json").read_text())
    assert summary["op"] == pytest.approx(sum(rows[-1]) / 3)
    expected_bwt = sum(rows[-1][i] - rows[i][i] for i in range(2)) / 2
    assert summary["bwt"] == pytest.approx(expected_bwt)
    stats = json.loads((out / "tasks" / "02_wic" / "kif_stats.json").read_text())
    assert stats["fusions"] == 4 and stats["outer_steps"] == 8  # 12 steps, K 3, M 2
    assert stats["memory_size"] == 3 + 3 + 2  # 2% of 24 -> one per class (wic added at its end)
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["method"]["name"] == "kif" and config["method"]["dropout"] == 0.05
    assert len(list((out / "predictions").glob("after02_*.jsonl"))) == 3


def test_resume_after_an_interruption_matches(
    smoke_run, quick_args, tmp_path, monkeypatch, kif, faults
):
    run = kif.main

    full, _ = smoke_run
    cut = tmp_path / "cut"
    argv = [*quick_args, "--checkpoint-every", "4", "--output-dir", str(cut)]
    # in the middle of task 2 (12 steps per task)
    faults.inject(monkeypatch, faults.StopAfterCheckpoint(20))
    with pytest.raises(faults.Interrupted):
        run(argv)
    monkeypatch.undo()
    latest = (cut / "checkpoints" / "latest").read_text().strip()
    assert latest.endswith("t01-in_task"), latest
    assert run([*argv, "--resume"]) == 0
    a = json.loads((full / "results.json").read_text())["matrix"]
    b = json.loads((cut / "results.json").read_text())["matrix"]
    assert a == b
    for task in ("01_cb", "02_wic"):
        sa = json.loads((full / "tasks" / task / "kif_stats.json").read_text())
        sb = json.loads((cut / "tasks" / task / "kif_stats.json").read_text())
        assert sa == sb


def test_int8_base_fails_clearly_without_a_gpu(tmp_path, kif, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = tmp_path / "out"
    assert kif.main(["--load-in-8bit", "--model", "some/llama", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and "--load-in-8bit false" in err and not out.exists()


def test_missing_test_file_fails_clearly(tmp_path, shared_data, kif, capsys):
    import shutil

    # A copy of the long-sequence folder without dbpedia's test file (the released copy's gap).
    data = tmp_path / "long_sequence_instruct"
    shutil.copytree(shared_data / "long_sequence_instruct", data)
    (data / "test" / "dbpedia.json").unlink()
    argv = ["--preset", "smoke", "--tasks", "dbpedia", "--data-dir", str(data)]
    assert kif.main([*argv, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "dbpedia" in err and "--test-file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_tiny_llama_runs_the_alpaca_recipe(tmp_path, shared_data, kif):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from cl_data import byte_level_tokenizer

    tok = byte_level_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=260,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    model_dir = tmp_path / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    out = tmp_path / "run"
    argv = [
        "--model", str(model_dir), "--tasks", "cb", "copa", "--max-train-samples", "8",
        "--max-test-samples", "2", "--epochs", "1", "--per-device-batch", "4",
        "--grad-accum", "1", "--inner-iterations", "1", "--outer-iterations", "1",
        "--outer-batch-size", "2", "--cutoff-len", "96", "--max-new-tokens", "3",
        "--warmup-steps", "0", "--log-with", "none", "--no-progress", "--no-plot",
        "--output-dir", str(out),
    ]  # fmt: skip
    assert kif.main(argv) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["method"]["outer_batch_size"] == 2 and config["trainer"]["batch_size"] == 4
    assert config["run"]["truncation"] == "released"
    stats = json.loads((out / "tasks" / "01_copa" / "kif_stats.json").read_text())
    assert stats["fusions"] == 2 and stats["outer_steps"] == 2
    preds = [json.loads(line) for line in (out / "predictions" / "after01_cb.jsonl").open()]
    assert len(preds) == 2 and all("### Response" not in p["prediction"] for p in preds)

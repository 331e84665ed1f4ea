"""run_cl --seeds (per-seed sub-folders + the cl-eval aggregate), --backbone.revision and
--backbone.random_init."""

from __future__ import annotations

import json
import statistics

import torch


def _yaml(colour_dir) -> str:
    return (
        "method: seq\nscenario: CIL\n"
        "backbone: {model: tiny-bert, kind: encoder, head: linear, max_length: 16}\n"
        f"data: {{name: dir, dir: {colour_dir}}}\n"
        "trainer: {epochs: 1, lr: 1.0e-3, batch_size: 4, progress: false}\n"
        "method_config: {classifier_lr: 0.05}\n"
    )


def test_seeds_run_into_sub_folders_and_aggregate(run_cl, colour_dir, write_yaml, tmp_path, capsys):
    path = write_yaml(_yaml(colour_dir))
    out = tmp_path / "multi"
    argv = ["--config", str(path), "--output_dir", str(out), "--seeds", "1", "2"]
    assert run_cl.main(argv) == 0
    runs = [json.loads((out / f"seed{s}" / "results.json").read_text()) for s in (1, 2)]
    assert [r["config"]["seed"] for r in runs] == [1, 2]
    summary = json.loads((out / "summary.json").read_text())
    aps = [r["metrics"]["ap"] for r in runs]
    assert summary["metrics"]["ap"]["mean"] == statistics.mean(aps)
    assert abs(summary["metrics"]["ap"]["std"] - statistics.stdev(aps)) < 1e-9
    assert "ap" in (out / "summary.md").read_text().lower()
    # a second call keeps the finished seeds (same saved configuration) and re-aggregates
    stamp = (out / "seed1" / "results.json").stat().st_mtime_ns
    capsys.readouterr()
    assert run_cl.main(argv) == 0
    assert "seed 1:" in capsys.readouterr().out
    assert (out / "seed1" / "results.json").stat().st_mtime_ns == stamp
    assert run_cl.main([*argv[:-2], "1", "1"]) == 2  # a repeated seed is a config error


def test_backbone_random_init_and_revision(run_cl, write_yaml) -> None:
    from classic_app.models import load_backbone

    pretrained, _ = load_backbone("minilm", "encoder", 1)
    fresh1, tok = load_backbone("minilm", "encoder", 1, random_init=True)
    fresh1b, _ = load_backbone("minilm", "encoder", 1, random_init=True)
    fresh2, _ = load_backbone("minilm", "encoder", 2, random_init=True)
    name = "encoder.layer.0.attention.self.query.weight"
    w = {k: dict(m.named_parameters())[name] for k, m in
         (("p", pretrained), ("a", fresh1), ("b", fresh1b), ("c", fresh2))}  # fmt: skip
    assert w["a"].shape == w["p"].shape and len(tok) == pretrained.config.vocab_size
    assert not torch.equal(w["a"], w["p"]) and not torch.equal(w["a"], w["c"])
    assert torch.equal(w["a"], w["b"])  # seeded
    cfg = run_cl.load_config(["--backbone.model", "some-org/some-model", "--backbone.revision",
                              "step1000", "--backbone.random_init", "true"])  # fmt: skip
    assert cfg.backbone.revision == "step1000" and cfg.backbone.random_init
    path = write_yaml("backbone: {model: minilm, revision: step1000}\n")
    assert run_cl.main(["--config", str(path)]) == 2  # a revision needs a hub id

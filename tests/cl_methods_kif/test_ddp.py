"""Recurrent-KIF under DDP: canonical keys, and identical weights and masks on 2 gloo ranks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from cl_methods.kif import lora_parameters

HERE = Path(__file__).resolve().parent


def test_keys_are_the_same_wrapped_or_not(tiny, tmp_path):
    model = tiny.kif().prepare(tiny.TinyModel())
    plain = sorted(lora_parameters(model))
    assert plain == ["q.lora_A", "q.lora_B", "v.lora_A", "v.lora_B"]
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        wrapped = DistributedDataParallel(model)
        assert sorted(lora_parameters(wrapped)) == plain
        compiled = type("Compiled", (torch.nn.Module,), {})()
        compiled._orig_mod = model
        assert sorted(lora_parameters(compiled)) == plain
    finally:
        dist.destroy_process_group()


@pytest.mark.distributed
def test_two_gloo_ranks_hold_identical_weights_and_masks(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        str(HERE / "ddp_run.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["world"] == 2 and r0["keys"] == r1["keys"] and r0["fusions"] > 0
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), name
    for side in ("inner", "outer"):
        for name in r0["masks"][side]:
            assert torch.equal(r0["masks"][side][name], r1["masks"][side][name]), (side, name)

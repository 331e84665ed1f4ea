"""Run Recurrent-KIF on the tiny tasks under the trainer; launched on 2 gloo processes by
test_ddp.py. Each rank writes its final LoRA weights and last masks to OUT/rank<r>.pt."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("kif_tiny", HERE / "tiny.py")
tiny = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tiny)


def main() -> None:
    out = Path(sys.argv[1])
    method = tiny.kif(inner_iterations=2, outer_iterations=2, debug_check_ranks=True)
    trainer, _ = tiny.run(out, method, grad_accum=1)
    rank = trainer.accelerator.process_index
    state = {
        "world": trainer.accelerator.num_processes,
        "params": {n: p.detach().clone() for n, p in method._params.items()},
        "masks": method.last_masks,
        "fusions": method.stats["fusions"],
        "keys": sorted(method._params),
    }
    torch.save(state, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()

"""Reproduce Recurrent-KIF (Feng et al., ACL 2025) on the long-sequence instruction benchmark.

Paper setting (defaults): T5-large with one LoRA adapter (q, v; r 8, alpha 32, dropout 0.05)
carried across tasks, 10 epochs per task, global batch 8 (2 x 4), AdamW lr 3e-4 with a linear
schedule and 50 warm-up steps, clipping 1.0, fp32, source 1024 / target 128 tokens. Every K = 8
inner steps, M = 4 outer steps on a 2% class-stratified memory of earlier tasks (B_out 8, own
AdamW lr 1e-3), then element-wise fusion by importance (q = 0.8, beta 0.85). A causal LM passed
with --model gets the LLaMA settings (Alpaca template, cutoff 512, global batch 64 = 16 x 4,
B_out 64, fp16; --load-in-8bit for the int8 base on a GPU). Greedy decoding of 128 tokens, exact
match after lowercasing; OP and BWT over the accuracy matrix. Orders use the O-LoRA numbering
(--kif-order takes the reference's ids).

    python apps/reproduce_kif.py --preset smoke                    # tiny T5, about a minute
    python apps/reproduce_kif.py --order 4 --model /path/to/t5-large

The shared data's dbpedia and yahoo test files are rebuilt (the release lacks them; see
PROVENANCE.md); --test-file TASK=PATH replaces a task's test file.
"""

from __future__ import annotations

import sys

from kif_app.run import run

if __name__ == "__main__":
    sys.exit(run())

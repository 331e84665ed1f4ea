"""apps/run_cl.py loaded as a module, and a tiny continual dataset folder (no shared data)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"
CONFIGS = APPS / "configs" / "classic"
COLOURS = ["red", "blue", "green", "black", "white", "brown"]


@pytest.fixture(scope="session")
def run_cl(module_file):
    if str(APPS) not in sys.path:  # the app imports its recipe package (apps/classic_app)
        sys.path.insert(0, str(APPS))
    return module_file(APPS / "run_cl.py", "classic_run_cl_app", register=False)


@pytest.fixture(scope="session")
def colour_dir(tmp_path_factory) -> Path:
    """3 tasks x 2 classes; each input names its class colour among filler words."""
    from cl_data.classic import ContinualConfig, write_continual_dataset

    config = ContinualConfig.from_class_counts([2, 2, 2], COLOURS)
    rng = random.Random(0)
    data = {}
    for t in range(3):
        data[t] = {}
        for split, n in (("train", 6), ("dev", 2), ("test", 3)):
            rows = []
            for cil in config.cur_class[t]:
                for _ in range(n):
                    words = [COLOURS[cil]] * 2 + rng.sample(["a", "big", "small", "the"], 2)
                    rng.shuffle(words)
                    rows.append((" ".join(words), cil))
            data[t][split] = {
                "input": [x for x, _ in rows],
                "target": [COLOURS[c] for _, c in rows],
                "label_idx_cil": [c for _, c in rows],
                "label_idx_til": [c - config.pre_accum_num_class[t] for _, c in rows],
            }
    folder = tmp_path_factory.mktemp("colours")
    write_continual_dataset(data, config, folder)
    return folder


@pytest.fixture
def write_yaml(tmp_path):
    def write(text: str, name: str = "run.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write

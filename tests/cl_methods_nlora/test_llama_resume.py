"""Kill a tiny-LLaMA N-LoRA run mid-task with the trainer's kill hook, resume, compare."""

import json
import os
import subprocess
import sys

from safetensors.torch import load_file

from cl_methods.trainer.trainer import KILL_ENV


def _run(cmd, env_extra=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.pop(KILL_ENV, None)
    env.update(env_extra or {})
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _matrix(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT ") :])


def test_resume_after_kill_is_bit_identical(llama_toy, llama_toy_script, tmp_path):
    # 8 examples, batch 2, 2 epochs: 8 steps per task; checkpoints every 3 steps; the kill hook
    # fires after the checkpoint at global step 12, in the middle of the second task. The
    # uninterrupted run happens in this process (the same seeds and settings as the script's).
    common = ["--checkpoint-every", "3", "--nlora-target", "delta_w"]
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full, _ = llama_toy.run(
        str(full_dir), "nlora", checkpoint_every=3, method_opts={"nlora_target": "delta_w"}
    )
    killed = _run([sys.executable, str(llama_toy_script), str(cut_dir), *common], {KILL_ENV: "10"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    latest = (cut_dir / "checkpoints" / "latest").read_text().strip()
    assert latest.endswith("t01-in_task"), latest
    resumed = _run([sys.executable, str(llama_toy_script), str(cut_dir), *common, "--resume"])
    assert _matrix(resumed) == full.matrix
    for task in ("00_colors", "01_animals"):
        a = load_file(str(full_dir / "tasks" / task / "adapter.safetensors"))
        b = load_file(str(cut_dir / "tasks" / task / "adapter.safetensors"))
        assert a.keys() == b.keys()
        for key in a:
            assert torch_equal(a[key], b[key]), key


def torch_equal(x, y) -> bool:
    return bool((x == y).all())

import os
import subprocess
import sys
import textwrap


def test_no_cl_eval_module_imports_torch_or_matplotlib():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import cl_eval
        names = [m.name for m in pkgutil.walk_packages(cl_eval.__path__, "cl_eval.")]
        names = [n for n in names if n != "cl_eval.__main__"]
        for name in names:
            importlib.import_module(name)
        assert len(names) >= 10, names
        heavy = [m for m in ("torch", "matplotlib", "transformers") if m in sys.modules]
        print(len(names), heavy)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    count, heavy = done.stdout.split(maxsplit=1)
    assert heavy.strip() == "[]", f"importing cl_eval modules loaded {heavy.strip()}"
    assert int(count) >= 10

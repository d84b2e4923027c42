"""Every code block of the README runs as written (a new user's first hour).

The Python blocks run in order in one fresh interpreter, in an empty folder, with no
``KERAS_BACKEND`` set (as on a new machine, where ``import keras`` alone would pick
TensorFlow); then the shell blocks run there, except the two install commands (CI runs
those itself, as ``.ci/run``) and the test command.
"""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks(lang: str) -> list[str]:
    return [code for kind, code in BLOCK.findall(README.read_text()) if kind == lang]


def test_the_readme_has_its_two_commands():
    shell = blocks("bash")
    assert 'pip install ".[demo]" && xaicore demo\n' in shell
    assert 'pip install ".[test,tf]" && pytest\n' in shell


@pytest.mark.slow
def test_every_readme_block_runs(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(MPLBACKEND="Agg", KERAS_HOME=str(tmp_path / "keras-home"))
    script = tmp_path / "readme_blocks.py"
    script.write_text("\n\n".join(blocks("python")))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "explanation.png").is_file()
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    for code in blocks("bash"):
        if code.lstrip().startswith("pip install"):
            continue
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{code}\n{run.stderr[-3000:]}"
    assert (tmp_path / "results" / "attribution.npz").is_file()

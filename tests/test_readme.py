"""The README's Python snippets run as written."""

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT


def _snippets():
  with open(os.path.join(ROOT, "README.md")) as f:
    return re.findall(r"^```python\n(.*?)^```", f.read(), re.M | re.S)


def test_the_readme_has_python_snippets():
  assert len(_snippets()) >= 3  # losses, the process-wide choices, "Use from Python".


@pytest.mark.parametrize("index", range(len(_snippets())))
def test_a_readme_snippet_runs_as_written(index, tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", GANJAX_COMPILATION_CACHE="0",
             JAX_DISABLE_MOST_OPTIMIZATIONS="true")
  r = subprocess.run([sys.executable, "-c", _snippets()[index]], cwd=tmp_path, env=env,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]

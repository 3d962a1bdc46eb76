"""`--help` of the training entry points: their flags and every config field, described."""

import importlib
import os
import re

import pytest

from ganjax import config_docs, families
from conftest import run_module


@pytest.mark.parametrize("family", sorted(families.FAMILIES))
def test_every_config_field_of_every_family_has_a_description(family):
  from ganjax.config import base_config
  lines = config_docs.describe(base_config(family)).splitlines()
  assert len(lines) == len(config_docs.flat_fields(base_config(family)))
  undocumented = [line.split()[0] for line in lines if len(line.split(maxsplit=1)) < 2]
  assert not undocumented, f"add a '# description' after these fields' defaults: {undocumented}"


def test_descriptions_come_from_the_comment_on_the_fields_line():
  def fields():
    return dict(
        alpha=1,       # the first  # with a second '#' kept
        beta="#no",    # a '#' inside a string is no comment
        gamma=3,
    )

  assert config_docs._comments(fields) == {"alpha": "the first  # with a second '#' kept",
                                            "beta": "a '#' inside a string is no comment"}


def test_values_are_written_as_they_are_typed_on_a_command_line():
  from ganjax.config import base_config
  c = base_config("gan")
  c.hidden, c.data_dir = (32, 16), ""
  text = config_docs.describe(c)
  assert re.search(r"--config\.hidden=\(32,16\) +MLP: hidden layer widths", text)
  assert "--config.data_dir='' " in text and "--config.optimizer.name=adam " in text


def test_help_of_an_entry_point_lists_its_flags_and_the_chosen_configs_fields():
  r = run_module("experiments.dcgan", "--config=experiments/configs/dcgan.py:mnist",
                 "--config.width=8", "--help", timeout=120)
  assert r.returncode == 0, r.stderr[-2000:]
  out = r.stdout
  assert out.startswith("Trains dcgan: python -m experiments.dcgan --config=")
  for flag in ("--config:", "--workdir:", "--distributed:"):
    assert flag in out
  assert "Variants of experiments/configs/dcgan.py: digits, mnist," in out
  config = importlib.import_module("experiments.configs.dcgan").get_config("mnist")
  for field in config_docs.flat_fields(config):
    assert re.search(rf"^  --config\.{re.escape(field)}=\S+ +\S", out, re.M), field
  assert re.search(r"^  --config\.width=8 ", out, re.M)            # The override,
  assert re.search(r"^  --config\.dataset=mnist ", out, re.M)      # and the variant's value.


def test_entry_points_find_their_configs_from_any_directory(tmp_path):
  """As after `pip install -e .`: the package on the path, the shell somewhere else."""
  import subprocess
  import sys
  from conftest import ROOT
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
  for args in ([], ["--config=experiments/configs/dcgan.py:mnist"]):
    r = subprocess.run([sys.executable, "-m", "experiments.dcgan", *args, "--help"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--config.dataset=" in r.stdout, r.stderr[-2000:]
  with open(os.path.join(ROOT, "pyproject.toml")) as f:
    assert re.search(r'^include = \[.*"experiments\*"', f.read(), re.M)  # Installed too.

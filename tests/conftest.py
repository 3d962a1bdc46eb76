"""Shared test set-up: fast compiles, CPU only, TensorFlow kept off any GPU."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from ganjax import xla_cpu  # noqa: E402

xla_cpu.apply()  # As the entry points do, before JAX starts: tests run the code users run.

import jax  # noqa: E402

# Tests check behaviour, not speed: most XLA optimisations only cost compile time here.
jax.config.update("jax_disable_most_optimizations", True)
# Many tests compile the same small programs (a shrunk DCGAN's step, a tiny U-Net): with
# JAX's persistent cache the second compile reads the first's, also across xdist workers.
from ganjax import compilation_cache  # noqa: E402

compilation_cache.enable(os.path.join(tempfile.gettempdir(), f"ganjax-tests-{os.getuid()}"))
jax.config.update("jax_platforms", "cpu")

import pytest  # noqa: E402

# TFDS's mock data lives in tensorflow_datasets/testing, whose test_utils.py pytest's
# assertion rewriting parses on import (its name matches test_*.py). Parsed deep inside a
# test's stack, CPython 3.11.7's compiler can fail with "SystemError: AST constructor
# recursion depth mismatch" (CPython gh-106905); imported here, at a shallow stack, it
# parses once and is cached for every test.
from tensorflow_datasets.testing import mocking  # noqa: E402, F401


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(*args, timeout: int = 300):
  """`python -m ARGS` in the checkout, unoptimised JAX on the CPU: a CompletedProcess."""
  import subprocess
  import sys
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="true", JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout)


def shrink(config, data_dir: str = "", **overrides):
  """A config shrunk to seconds: tiny widths, batch 8, a few steps, the smallest DCGAN.

  Every field in `overrides` is set last. Fields a family lacks are left alone.
  """
  c = config
  c.data_dir = data_dir
  c.batch_size = 8
  c.num_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 2, 2, 2
  c.num_sample_images = 4
  for name, value in (("width", 4), ("hidden", (16,)), ("latent_dim", 8),
                      ("labeled_batch_size", 4)):
    if name in c:
      c[name] = value
  if c.get("model") == "dcgan":
    c.resolution = 16  # The smallest DCGAN: larger ones only cost compile time.
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """One TFDS data_dir for the whole session, with the offline `digits` prepared once."""
  from ganjax import data
  path = str(tmp_path_factory.mktemp("tfds"))
  data.info("digits", data_dir=path)
  return path

"""Shared test set-up: fast compiles, CPU only, TensorFlow kept off any GPU."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Here and in every subprocess a test starts (they inherit it): tests check behaviour, not
# speed, and most XLA optimisations only cost compile time.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")

from ganjax import xla_cpu  # noqa: E402

xla_cpu.apply()  # As the entry points do, before JAX starts: tests run the code users run.

import jax  # noqa: E402

# Tests check behaviour, not speed: most XLA optimisations only cost compile time here.
jax.config.update("jax_disable_most_optimizations", True)
# Many tests compile the same small programs (a shrunk DCGAN's step, a tiny U-Net): with
# JAX's persistent cache the second compile reads the first's, also across xdist workers.
from ganjax import compilation_cache  # noqa: E402

# The subprocesses that tests start (`python -m experiments.*`) share it: their programs are
# often those a test compiled in-process, and they then leave the user's own cache alone.
os.environ.setdefault("GANJAX_COMPILATION_CACHE",
                      os.path.join(tempfile.gettempdir(), f"ganjax-tests-{os.getuid()}"))
compilation_cache.enable()  # Reads the directory from GANJAX_COMPILATION_CACHE, as they do.
jax.config.update("jax_platforms", "cpu")

import pytest  # noqa: E402

# TFDS's mock data lives in tensorflow_datasets/testing, whose test_utils.py pytest's
# assertion rewriting parses on import (its name matches test_*.py). Parsed deep inside a
# test's stack, CPython 3.11.7's compiler can fail with "SystemError: AST constructor
# recursion depth mismatch" (CPython gh-106905); imported here, at a shallow stack, it
# parses once and is cached for every test.
from tensorflow_datasets.testing import mocking  # noqa: E402, F401


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The slow files first: xdist hands tests out in this order, so the two workers finish
# together instead of one waiting on a slow test handed out last.
SLOW_FIRST = ("test_stackgan.py", "test_cyclegan.py", "test_train.py", "test_pix2pix.py",
              "test_reliability.py", "test_generate.py", "test_conditional.py",
              "test_image_folder.py", "test_multihost.py", "test_precision.py",
              "test_steps.py", "test_evaluate.py", "test_benchmark.py", "test_readme.py")


def pytest_collection_modifyitems(config, items):
  del config
  rank = {name: i for i, name in enumerate(SLOW_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # Stable: files keep order.


def shared_root(tmp_path_factory):
  """The session's temporary folder that all its xdist workers share (a pathlib.Path)."""
  root = tmp_path_factory.getbasetemp()
  return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # .../popen-gwK


def built_once(tmp_path_factory, name: str, build) -> str:
  """The directory that `build(path)` fills, built once per test session.

  A module fixture runs once per xdist worker that runs a test of its module; the
  expensive ones (a trained run, a text encoder) share their directory through this
  instead: the first worker to ask builds it under a lock, the others wait and reuse it.
  (xdist's loadgroup would keep a module on one worker, but pytest 9.2 breaks it:
  pytest-xdist issue 1386.)
  """
  import fcntl
  import shutil
  root = shared_root(tmp_path_factory)
  path = root / name
  with open(root / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (path / ".built").exists():
      shutil.rmtree(path, ignore_errors=True)  # A build that failed on another worker.
      path.mkdir()
      build(str(path))
      (path / ".built").touch()
  return str(path)


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
  if c.get("info_categories"):
    c.info_categories = 4  # The digits default's InfoGAN code, within the shrunk z.
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


def spectral_kernels(net) -> dict:
  """{params path: (kernel, sigma, u)} of each spectrally normalised kernel of a NetState:
  `layers.spectral` keeps `<layer>/kernel/sigma` and `.../u` in batch_stats under a
  SpectralNorm_i module beside the layer."""
  from flax import traverse_util
  stats = traverse_util.flatten_dict(net.batch_stats)
  params = traverse_util.flatten_dict(net.params)
  out = {}
  for key, sigma in stats.items():
    if key[-1].endswith("/sigma"):
      *outer, wrapper, leaf = key
      assert wrapper.startswith("SpectralNorm"), key
      name = (*outer, *leaf.split("/")[:-1])
      out[name] = (params[name], sigma, stats[(*outer, wrapper, leaf[:-len("sigma")] + "u")])
  return out


def check_spectral_norm(config, batch, networks=("discriminator",), *, num_steps: int = 30):
  """Checks a family's `spectral_norm` switch with `config` (left at its default, off)
  training on `batch`; returns (state after num_steps steps with it on, jitted step).

  Off: no SpectralNorm entry anywhere in the state. On: the same parameter trees; every
  kernel of each network in `networks` (the state's discriminators) normalised; one step
  moves every u and leaves the params finite; after `num_steps` steps each kernel over the
  sigma its layer divides by has a largest singular value within 10% of 1 (one power
  iteration per pass trails a kernel whose top singular values are close as it trains).
  """
  import numpy as np
  from ganjax import train
  assert config.spectral_norm is False
  off = jax.eval_shape(lambda: train.create_state(config, jax.random.key(0)))  # Shapes only.
  assert "SpectralNorm" not in str(jax.tree_util.tree_structure(off))
  config.spectral_norm = True
  state = train.create_state(config, jax.random.key(0))
  for name in networks:
    d, d_off = getattr(state, name), getattr(off, name)
    assert jax.tree.structure(d.params) == jax.tree.structure(d_off.params), name
    kernels = {path for path, _ in jax.tree_util.tree_flatten_with_path(d.params)[0]
               if path[-1].key == "kernel"}
    assert set(spectral_kernels(d)) == {tuple(k.key for k in p) for p in kernels}, name
    assert kernels, name
  step = jax.jit(train.build_step(config))
  new, metrics = step(state, batch, jax.random.key(1))
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  for name in networks:
    d = getattr(new, name)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(d.params)), name
    before = spectral_kernels(getattr(state, name))
    for path, (_, _, u) in spectral_kernels(d).items():
      assert not np.array_equal(u, before[path][2]), (name, path)
  for i in range(1, num_steps):
    new, _ = step(new, batch, jax.random.key(1 + i))
  for name in networks:
    for path, (kernel, sigma, _) in spectral_kernels(getattr(new, name)).items():
      effective = np.asarray(kernel).reshape(-1, kernel.shape[-1]) / float(sigma)
      np.testing.assert_allclose(np.linalg.norm(effective, 2), 1.0, rtol=0.1,
                                 err_msg=f"{name} {path}")
  return new, step

"""benchmarks/dcgan.py keeps working (no timing assertions), and its fast layers stay exact.

The benchmark itself is run by hand (`python -m benchmarks.dcgan`); these tests run both of
its sides for a step or two at a tiny size, its command line end to end once, and check
that the speed rewrites it relies on (`Conv4x4S2`, `ConvTranspose4x4S2`'s custom
gradients, the DCGAN initialisers) compute what the plain flax layers compute.
"""

import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import dcgan as bench
from ganjax.layers import Conv4x4S2, ConvTranspose4x4S2
from ganjax.models import dcgan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(channels=3, width=4, latent_dim=8)


def test_ganjax_side_runs_and_counts_flops():
  runner = bench.GanjaxRunner(2, 16, **TINY)
  times = [runner.step() for _ in range(2)]
  assert all(t > 0 for t in times)
  assert int(runner.state.step) == 2
  info = runner.info()
  assert info["compile_s"] > 0 and info["init_s"] > 0
  # XLA's own count of the compiled iteration and the analytic count agree roughly
  # (XLA also counts BatchNorm, the optimizer and the overlap-adds).
  analytic = bench.dcgan_flops(2, 16, **TINY)
  assert 0.8 < info["xla_flops_per_step"] / analytic < 1.5


def test_torch_side_runs():
  pytest.importorskip("torch")
  runner = bench.TorchRunner(2, 16, threads=1, **TINY)
  assert all(runner.step() > 0 for _ in range(2))
  netg, netd = bench.torch_dcgan(64, 3, 64, 100)
  # The same network as ganjax's: the paper's parameter counts.
  assert sum(p.numel() for p in netg.parameters()) == 3_576_704
  assert sum(p.numel() for p in netd.parameters()) == 2_765_568


def test_flops_count_of_the_64x64_dcgan():
  # G forward 209 MFLOP and D forward 207 MFLOP per image; see dcgan_flops' docstring.
  assert bench.dcgan_flops(64, 64) == 145_575_903_232
  assert bench.dcgan_flops(128, 64) == 2 * bench.dcgan_flops(64, 64)
  with pytest.raises(ValueError):
    bench.dcgan_flops(1, 48)


def test_command_line_prints_one_json_line_per_framework():
  cmd = [sys.executable, "-m", "benchmarks.dcgan", "--framework=ganjax", "--batch=2",
         "--resolution=16", "--width=4", "--latent_dim=8", "--steps=1", "--warmup=0",
         "--no-matmul_peak"]
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  (line,) = out.stdout.strip().splitlines()
  rec = json.loads(line)
  assert rec["framework"] == "ganjax" and rec["batch"] == 2 and rec["resolution"] == 16
  for key in ("img_per_s", "step_s_median", "first_step_s", "peak_rss_mb", "gflops_per_s",
              "fraction_of_peak"):
    assert rec[key] > 0, key


def test_missing_torch_is_a_clear_error(monkeypatch, capsys):
  monkeypatch.setattr(bench.importlib.util, "find_spec", lambda name: None)
  assert bench.main(["--framework=torch"]) == 2
  assert "pip install torch==2.13.0" in capsys.readouterr().err


# ---------------------------------------------------------------- the rewrites are exact


def _normal(seed, shape, scale=1.0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32) * scale)


def _assert_same_function(new, ref, x):
  """Same params, outputs, first and second derivatives (a gradient penalty's)."""
  params = ref.init(jax.random.key(0), x)
  jax.tree.map(np.testing.assert_array_equal, new.init(jax.random.key(0), x), params)
  params = jax.tree.map(lambda p: p + _normal(3, p.shape, 0.1), params)

  def close(a, b, tol):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * float(jnp.max(jnp.abs(b))))

  y_ref, vjp_ref = jax.vjp(ref.apply, params, x)
  y_new, vjp_new = jax.jit(lambda p, x: jax.vjp(new.apply, p, x))(params, x)
  close(y_new, y_ref, 1e-5)
  cotangent = _normal(4, y_ref.shape)
  jax.tree.map(lambda a, b: close(a, b, 1e-5), vjp_new(cotangent), vjp_ref(cotangent))

  def penalty(module, p):  # ||d tanh(D(x)) / dx||^2, differentiated again in p
    return jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(module.apply(p, x))))(x) ** 2)

  jax.tree.map(lambda a, b: close(a, b, 1e-4), jax.grad(lambda p: penalty(new, p))(params),
               jax.grad(lambda p: penalty(ref, p))(params))


# (input shape, features): RGB and wide layers, maps of 4x4 to 64x64 (each picks its own
# gradient form by shape), odd sizes (lax's own gradient for Conv4x4S2).
SHAPES = [((2, 8, 8, 3), 16), ((3, 6, 10, 5), 3), ((2, 4, 4, 20), 32), ((2, 32, 32, 16), 24),
          ((1, 5, 7, 4), 6), ((2, 64, 64, 3), 8)]


@pytest.mark.parametrize("shape,features", SHAPES)
def test_conv_4x4s2_equals_flax_conv(shape, features):
  ref = nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=True)
  _assert_same_function(Conv4x4S2(features, use_bias=True), ref, _normal(1, shape))


@pytest.mark.parametrize("shape,features", SHAPES)
def test_conv_transpose_4x4s2_custom_gradients_equal_flax(shape, features):
  ref = nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
  _assert_same_function(ConvTranspose4x4S2(features, use_bias=True), ref, _normal(1, shape))


def test_dcgan_discriminator_keeps_the_nn_conv_parameter_tree():
  x = jnp.zeros((1, 32, 32, 3))
  shapes = jax.eval_shape(lambda: dcgan.DCGANDiscriminator(resolution=32, width=4).init(
      jax.random.key(0), x, train=False))["params"]
  assert {k: v["kernel"].shape for k, v in shapes.items() if k.startswith("Conv")} == {
      "Conv_0": (4, 4, 3, 4), "Conv_1": (4, 4, 4, 8), "Conv_2": (4, 4, 8, 16),
      "Conv_3": (4, 4, 16, 1)}


def test_dcgan_initializers_draw_what_flax_draws():
  key = jax.random.key(5)
  for shape in [(4, 4, 100, 512), (4, 4, 64, 3), (128,)]:
    np.testing.assert_array_equal(dcgan.conv_init(key, shape),
                                  nn.initializers.normal(0.02)(key, shape))
    np.testing.assert_array_equal(dcgan.scale_init(key, shape),
                                  1.0 + 0.02 * jax.random.normal(key, shape))

"""benchmarks/dcgan.py keeps working (no timing assertions), and its fast layers stay exact.

The benchmark itself is run by hand (`python -m benchmarks.dcgan`); these tests run both of
its sides, for each recipe (dcgan, wgan_gp), for a step or two at a tiny size, its command
line end to end, check that the PyTorch critic of wgan_gp computes ganjax's, and check
that the speed rewrites it relies on (`Conv4x4S2`, `ConvTranspose4x4S2`'s custom
gradients, the DCGAN initialisers) compute what the plain flax layers compute. The
pix2pix benchmark (`python -m benchmarks.pix2pix`) runs end to end at a tiny size, and
both of its sides have the reference's parameter counts.
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
from benchmarks import pix2pix as pix2pix_bench
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


def test_ganjax_wgan_gp_side_runs_and_counts_flops():
  runner = bench.GanjaxRunner(2, 16, recipe="wgan_gp", **TINY)
  assert runner.batch["image"].shape == (5, 2, 16, 16, 3)  # One minibatch per critic update.
  assert runner.config.d_normalization == "layer" and runner.config.gp_weight == 10
  assert all(runner.step() > 0 for _ in range(2))
  assert int(runner.state.step) == 2 and int(runner.state.generator.step) == 2
  assert int(runner.state.discriminator.step) == 10
  # Width 4: LayerNorm, the activations and Adam weigh more than at width 64 (XLA counts
  # them, the analytic count does not). Leaving out the penalty's double backward would
  # put the ratio near 2.8.
  analytic = bench.wgan_gp_flops(2, 16, **TINY)
  assert 0.8 < runner.info()["xla_flops_per_step"] / analytic < 2.0


def test_torch_side_runs():
  pytest.importorskip("torch")
  runner = bench.TorchRunner(2, 16, threads=1, **TINY)
  assert all(runner.step() > 0 for _ in range(2))
  netg, netd = bench.torch_dcgan(64, 3, 64, 100)
  # The same network as ganjax's: the paper's parameter counts.
  assert sum(p.numel() for p in netg.parameters()) == 3_576_704
  assert sum(p.numel() for p in netd.parameters()) == 2_765_568


def _torch_critic_with_flax_params(params, resolution, width):
  import torch
  _, netd = bench.torch_dcgan(resolution, 3, width, 8, "layer")
  convs = [m for m in netd if isinstance(m, torch.nn.Conv2d)]
  norms = [m for m in netd if isinstance(m, torch.nn.LayerNorm)]
  assert len(convs) == len([k for k in params if k.startswith("Conv")])
  assert len(norms) == len([k for k in params if k.startswith("LayerNorm")])
  with torch.no_grad():
    for i, m in enumerate(convs):  # (kh, kw, in, out) -> (out, in, kh, kw)
      kernel = np.asarray(params[f"Conv_{i}"]["kernel"])
      m.weight.copy_(torch.tensor(kernel.transpose(3, 2, 0, 1)))
    for i, m in enumerate(norms):
      m.weight.copy_(torch.tensor(np.asarray(params[f"LayerNorm_{i}"]["scale"])))
      m.bias.copy_(torch.tensor(np.asarray(params[f"LayerNorm_{i}"]["bias"])))
  return netd


def test_torch_wgan_gp_side_runs_with_ganjax_critic():
  torch = pytest.importorskip("torch")
  runner = bench.TorchWganGpRunner(2, 16, threads=1, **TINY)
  assert tuple(runner.real.shape) == (5, 2, 3, 16, 16)
  assert all(runner.step() > 0 for _ in range(2))
  step_count = lambda opt: int(next(iter(opt.state.values()))["step"])  # noqa: E731
  assert step_count(runner.opt_d) == 10 and step_count(runner.opt_g) == 2
  assert all(p.requires_grad for p in runner.netd.parameters())
  # The critic's parameters are ganjax's, and with them it computes what ganjax's does:
  # logits and the input gradient the penalty takes (flax's LayerNorm is per pixel, over
  # the channels; normalising over (C, H, W) would fail this).
  for resolution, width in [(64, 64), (16, 4)]:
    critic = dcgan.DCGANDiscriminator(resolution=resolution, width=width,
                                      normalization="layer")
    x = _normal(1, (3, resolution, resolution, 3))
    if resolution == 64:  # Shapes only: the parameter count at the benchmark's size.
      shapes = jax.eval_shape(lambda: critic.init(jax.random.key(0), x, train=False))
      _, netd = bench.torch_dcgan(64, 3, 64, 100, "layer")
      assert sum(p.numel() for p in netd.parameters()) == sum(
          int(np.prod(s.shape)) for s in jax.tree.leaves(shapes))
      continue
    params = critic.init(jax.random.key(0), x, train=False)["params"]
    params = jax.tree.map(lambda p: p + _normal(2, p.shape, 0.1), params)
    netd = _torch_critic_with_flax_params(params, resolution, width)

    def apply(x):
      return critic.apply({"params": params}, x, train=False)

    logits, grad = apply(x), jax.grad(lambda x: jnp.sum(apply(x)))(x)
    xt = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2), requires_grad=True)
    logits_t = netd(xt).view(-1)
    (grad_t,) = torch.autograd.grad(logits_t.sum(), xt)
    np.testing.assert_allclose(logits_t.detach().numpy(), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_t.numpy().transpose(0, 2, 3, 1), grad, rtol=1e-4,
                               atol=1e-5 * float(jnp.max(jnp.abs(grad))))


def test_flops_count_of_the_64x64_dcgan():
  # G forward 209 MFLOP and D forward 207 MFLOP per image; see dcgan_flops' docstring.
  assert bench.dcgan_flops(64, 64) == 145_575_903_232
  assert bench.dcgan_flops(128, 64) == 2 * bench.dcgan_flops(64, 64)
  with pytest.raises(ValueError):
    bench.dcgan_flops(1, 48)


def test_flops_count_of_the_64x64_wgan_gp():
  assert bench.wgan_gp_flops(64, 64) == 911_495_659_520
  assert bench.iteration_flops("wgan_gp", 64, 64) == bench.wgan_gp_flops(64, 64)
  assert bench.iteration_flops("dcgan", 64, 64) == bench.dcgan_flops(64, 64)
  # With one critic update, WGAN-GP is the DCGAN iteration plus the penalty: D at x_hat,
  # its input gradient, and both differentiated in D's params (6 F_D - F_D1).
  _, macs_d = bench.conv_macs(64)
  penalty = 64 * (6 * 2 * sum(macs_d) - 2 * macs_d[0])
  assert bench.wgan_gp_flops(64, 64, d_steps=1) == bench.dcgan_flops(64, 64) + penalty


@pytest.mark.parametrize("recipe,d_steps", [("dcgan", 1), ("wgan_gp", 5)])
def test_command_line_prints_one_json_line_per_framework(recipe, d_steps):
  cmd = [sys.executable, "-m", "benchmarks.dcgan", f"--recipe={recipe}", "--framework=ganjax",
         "--batch=2", "--resolution=16", "--width=4", "--latent_dim=8", "--steps=1",
         "--warmup=0", "--no-matmul_peak"]
  # Behaviour, not speed: the worker compiles as the tests do (see conftest.py).
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  (line,) = out.stdout.strip().splitlines()
  rec = json.loads(line)
  assert rec["framework"] == "ganjax" and rec["batch"] == 2 and rec["resolution"] == 16
  assert rec["recipe"] == recipe and rec["d_steps"] == d_steps
  # step_s_median is rounded to 0.1 ms: on a millisecond step that alone moves the ratio
  # by several per cent, so the bound is the one the rounding allows.
  step = rec["step_s_median"]
  assert d_steps * 2 / (step + 5e-5) * 0.99 <= rec["img_per_s"] <= \
      d_steps * 2 / max(step - 5e-5, 1e-9) * 1.01
  assert rec["flops_per_step"] == bench.iteration_flops(recipe, 2, 16, **TINY)
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


# --------------------------------------------------------------------------- every family


def test_the_family_benchmark_covers_every_config_and_reports_one_row_each(
    monkeypatch, capsys, data_dir):
  from benchmarks import families as fam_bench
  names = fam_bench.config_names()
  assert {"gan", "dcgan", "lsgan", "wgan", "wgan_gp", "cgan", "acgan", "sgan",
          "mixture"} <= set(names)
  with pytest.raises(SystemExit):
    fam_bench.parse_args(["--configs=pix2pox"])
  monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")
  assert fam_bench.main(["--configs=mixture", "--steps=1", "--warmup=0",
                         "--override=d_steps=2", "--override=hidden=(8, 8)"]) == 0
  out = capsys.readouterr().out.splitlines()
  row = json.loads(out[0])
  assert row["config"] == "mixture" and row["d_steps"] == 2 and row["steps_per_s"] > 0
  assert row["first_step_s"] >= row["compile_s"] > 0 and row["peak_rss_mb"] > 0
  assert row["losses_finite"] and out[1].startswith("| config | family |")


# --------------------------------------------------------------------------- pix2pix

# The reference's unet_256 and 70x70 PatchGAN on concat(A, B), RGB: 54.414 M and 2.769 M
# (its log rounds to thousands; with grayscale images, 6,146 and 4,096 fewer: the
# 54.408 M and 2.765 M of junyanz/pytorch-CycleGAN-and-pix2pix issue 1152).
PIX2PIX_PARAMS_256 = {"g_params": 54_413_955, "d_params": 2_768_705}


def test_pix2pix_ganjax_networks_have_the_reference_parameter_counts():
  assert pix2pix_bench.ganjax_param_counts(256) == PIX2PIX_PARAMS_256


def test_pix2pix_torch_transcription_has_the_reference_parameter_counts():
  pytest.importorskip("torch")
  assert pix2pix_bench.torch_param_counts(256) == PIX2PIX_PARAMS_256
  # unet_64 (6 levels, one dropout block), a default setting of the benchmark.
  assert pix2pix_bench.torch_param_counts(64) == pix2pix_bench.ganjax_param_counts(64)


def test_pix2pix_command_line_times_both_sides_of_the_same_networks():
  pytest.importorskip("torch")
  cmd = [sys.executable, "-m", "benchmarks.pix2pix", "--framework=both", "--settings=2x32",
         "--width=8", "--steps=1", "--warmup=1", "--no-matmul_peak"]
  # Behaviour, not speed: the ganjax worker compiles as the tests do (see conftest.py).
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  (line,) = [l for l in out.stdout.splitlines() if l.startswith("{")]
  rec = json.loads(line)
  assert (rec["batch"], rec["resolution"], rec["width"]) == (2, 32, 8)
  for framework in ("ganjax", "torch"):
    assert rec[f"{framework}_ms"] > 0 and rec[framework]["first_step_s"] > 0, framework
    assert rec[framework]["peak_rss_mb"] > 0 and rec[framework]["cpu_s_median"] > 0
  assert rec["torch_over_ganjax"] == pytest.approx(rec["torch_ms"] / rec["ganjax_ms"], rel=0.01)
  assert rec["paired_ratio_median"] > 0
  # The same networks on both sides: the count of the reference's, from shapes.
  counts = pix2pix_bench.torch_param_counts(32, width=8)
  assert rec["params_match"]
  assert rec["g_params"] == {"ganjax": counts["g_params"], "torch": counts["g_params"]}
  assert rec["d_params"] == {"ganjax": counts["d_params"], "torch": counts["d_params"]}
  assert "| 2x32 |" in out.stdout  # The table.


def test_pix2pix_settings_and_missing_torch(monkeypatch, capsys):
  assert pix2pix_bench.parse_settings("1x256,16x64") == [(1, 256), (16, 64)]
  for bad in ("16", "16x48", "2x16", "0x64", "axb"):
    with pytest.raises(ValueError):
      pix2pix_bench.parse_settings(bad)
  monkeypatch.setattr(bench.importlib.util, "find_spec", lambda name: None)  # The shared check.
  assert pix2pix_bench.main(["--framework=torch"]) == 2
  assert "pip install torch==2.13.0" in capsys.readouterr().err


def test_pix2pix_table_rows_are_valid_configs_of_the_papers_ablations():
  from absl import flags
  from benchmarks import pix2pix_table
  from experiments.configs import pix2pix as configs
  from ganjax import train
  if "ablations" not in flags.FLAGS:
    pix2pix_table.define_flags()
  flags.FLAGS(["pix2pix_table"])  # Defaults: both ablations.
  rows = pix2pix_table.rows()
  assert list(rows) == ["L1", "cGAN", "L1+cGAN", "L1+GAN", "PixelGAN 1x1", "PatchGAN 16x16",
                        "PatchGAN 34x34", "PatchGAN 70x70"]
  for name, overrides in rows.items():
    c = configs.get_config("edges")
    c.update(overrides)
    train.check_config(c)
  # L1 + cGAN and the 70 px PatchGAN are the same default run, named once per ablation.
  assert rows["L1+cGAN"] == rows["PatchGAN 70x70"] == {}

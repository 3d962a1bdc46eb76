"""Mixed precision: bfloat16 compute, float32 params and optimizer, training still works."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import data, precision, train
from experiments.configs import cgan, dcgan, pix2pix
from conftest import shrink


def test_mixed_apply_computes_in_bfloat16_and_answers_in_float32():
  import flax.linen as nn
  dense = nn.Dense(3)
  x = jnp.ones((2, 4))
  variables = dense.init(jax.random.key(0), x)
  seen = []

  def spy(variables, x):
    seen.append((jax.tree.leaves(variables)[0].dtype, x.dtype))
    return dense.apply(variables, x)

  y = precision.mixed_apply(spy, jnp.bfloat16)(variables, x)
  assert seen == [(jnp.bfloat16, jnp.bfloat16)] and y.dtype == jnp.float32
  grads = jax.grad(lambda v: precision.mixed_apply(dense.apply, jnp.bfloat16)(v, x).sum())(
      variables)
  assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))  # For float32 params.


def test_a_bfloat16_step_keeps_params_and_optimizer_in_float32(data_dir):
  c = shrink(dcgan.get_config(), data_dir, compute_dtype="bfloat16")
  state = train.create_state(c, jax.random.key(0))
  step = jax.jit(train.build_step(c))
  batch = {"image": np.zeros((c.batch_size, 16, 16, 1), np.float32)}
  assert "xbf16>" in step.lower(state, batch, jax.random.key(0)).as_text()
  new, metrics = step(state, batch, jax.random.key(0))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(
      (new.generator.params, new.generator.opt_state, new.discriminator.batch_stats))
      if jnp.issubdtype(x.dtype, jnp.floating))
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_bfloat16_trains_a_dcgan_on_digits_as_float32_does(data_dir):
  """200 steps on the digits: the samples' mean ink moves from G's start to the data's,
  in bfloat16 as in float32."""
  real = next(data.load("digits", split="train", batch_size=512, resolution=16, channels=1,
                        data_dir=data_dir))["image"]
  z = jax.random.normal(jax.random.key(7), (256, 8))
  gaps = {}
  for dtype in ("float32", "bfloat16"):
    c = shrink(dcgan.get_config(), data_dir, compute_dtype=dtype, width=8, batch_size=32,
               ema_decay=0.0)
    c.optimizer.g_learning_rate = c.optimizer.d_learning_rate = 1e-3
    state = train.create_state(c, jax.random.key(0))
    sample = train.make_sampler(c)
    start = abs(float(jnp.mean(sample(state, z))) - float(real.mean()))
    step = jax.jit(train.build_step(c))
    batches = data.load("digits", split="train", batch_size=32, resolution=16, channels=1,
                        data_dir=data_dir)
    for i in range(200):
      state, metrics = step(state, next(batches), jax.random.key(i))
      assert all(np.isfinite(float(v)) for v in metrics.values()), (dtype, i)
    gaps[dtype] = (start, abs(float(jnp.mean(sample(state, z))) - float(real.mean())))
  for dtype, (start, end) in gaps.items():
    assert end < 0.5 * start, gaps
  assert abs(gaps["bfloat16"][1] - gaps["float32"][1]) < 0.1, gaps


def test_a_family_without_mixed_precision_refuses_it_in_one_line():
  c = pix2pix.get_config()
  c.compute_dtype = "bfloat16"
  with pytest.raises(train.ConfigError, match="family 'pix2pix' computes in float32 only"):
    train.check_config(c)
  c = cgan.get_config()
  c.compute_dtype = "float16"
  with pytest.raises(train.ConfigError, match="compute_dtype must be one of float32, bfloat16"):
    train.check_config(c)

"""Model shapes, parameter counts, initialisation and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


from ganjax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator
from ganjax.state import count_params


def _shapes(module, x):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), x, train=False))


def test_dcgan_64_parameter_counts_equal_the_paper():
  g = _shapes(DCGANGenerator(resolution=64, channels=3, width=64), jnp.zeros((1, 100)))
  d = _shapes(DCGANDiscriminator(resolution=64, width=64), jnp.zeros((1, 64, 64, 3)))
  assert count_params(g["params"]) == 3_576_704
  assert count_params(d["params"]) == 2_765_568


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
@pytest.mark.parametrize("upsample", ["transposed", "resize"])
def test_dcgan_output_shapes(resolution, upsample):
  g = DCGANGenerator(resolution=resolution, channels=3, width=4, upsample=upsample)
  d = DCGANDiscriminator(resolution=resolution, width=4)
  z = jnp.zeros((2, 8))
  out = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), z, train=False)[0])
  assert out.shape == (2, resolution, resolution, 3)
  x = jnp.zeros((2, resolution, resolution, 3))
  logits = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), x, train=False)[0])
  assert logits.shape == (2,)


def test_dcgan_generator_output_in_tanh_range_and_init_statistics():
  g = DCGANGenerator(resolution=16, channels=1, width=8)
  z = jax.random.normal(jax.random.key(1), (4, 16))
  variables = g.init(jax.random.key(0), z, train=False)
  out = g.apply(variables, z, train=False)
  assert out.shape == (4, 16, 16, 1)
  assert float(jnp.max(jnp.abs(out))) <= 1.0
  kernels = [v for p, v in jax.tree_util.tree_leaves_with_path(variables["params"])
             if "kernel" in jax.tree_util.keystr(p)]
  all_w = np.concatenate([np.ravel(k) for k in kernels])
  assert abs(all_w.std() - 0.02) < 0.002  # N(0, 0.02)
  scales = np.concatenate([np.ravel(v) for p, v in
                           jax.tree_util.tree_leaves_with_path(variables["params"])
                           if "scale" in jax.tree_util.keystr(p)])
  assert abs(scales.mean() - 1.0) < 0.01 and 0.01 < scales.std() < 0.03  # N(1, 0.02)


def test_a_linear_output_generator_trains_unsquashed_and_samples_within_range():
  tanh = DCGANGenerator(resolution=16, channels=1, width=8)
  linear = DCGANGenerator(resolution=16, channels=1, width=8, output="linear")
  z = jax.random.normal(jax.random.key(1), (4, 16))
  variables = tanh.init(jax.random.key(0), z, train=False)
  # BatchNorm scales x 50: pre-activations, hence the last layer's outputs, well beyond +-1.
  variables = {**variables, "params": jax.tree_util.tree_map_with_path(
      lambda p, v: 50 * v if "scale" in jax.tree_util.keystr(p) else v, variables["params"])}
  raw, _ = linear.apply(variables, z, train=True, mutable=["batch_stats"])
  squashed, _ = tanh.apply(variables, z, train=True, mutable=["batch_stats"])
  np.testing.assert_allclose(squashed, jnp.tanh(raw), atol=1e-6)  # Same net, no tanh.
  assert float(jnp.max(jnp.abs(raw))) > 1.0
  sample = linear.apply(variables, z, train=False)
  raw = np.arctanh(np.asarray(tanh.apply(variables, z, train=False), np.float64))
  ok = np.abs(raw) < 3  # Where tanh's inverse is accurate in float32.
  np.testing.assert_allclose(np.asarray(sample)[ok], np.clip(raw, -1, 1)[ok], atol=1e-3)
  assert float(jnp.max(jnp.abs(sample))) == 1.0 and (np.abs(raw[ok]) > 1).any()
  with pytest.raises(ValueError, match="output"):
    _shapes(DCGANGenerator(resolution=16, output="sigmoid"), jnp.zeros((1, 8)))
  from ganjax import train
  from experiments.configs import dcgan
  config = dcgan.get_config()
  config.g_output = "sigmoid"
  with pytest.raises(train.ConfigError, match="g_output must be one of tanh, linear"):
    train.check_config(config)


def test_dcgan_discriminator_normalizations():
  x = jnp.ones((2, 16, 16, 1))
  bn = _shapes(DCGANDiscriminator(resolution=16, width=4), x)
  assert "batch_stats" in bn
  for norm in ("layer", "none"):
    v = _shapes(DCGANDiscriminator(resolution=16, width=4, normalization=norm), x)
    assert "batch_stats" not in v
  with pytest.raises(ValueError, match="normalization"):
    _shapes(DCGANDiscriminator(resolution=16, normalization="group"), x)


def test_dcgan_bad_resolution_and_upsample_and_image_size():
  with pytest.raises(ValueError, match="resolution"):
    _shapes(DCGANGenerator(resolution=48), jnp.zeros((1, 8)))
  with pytest.raises(ValueError, match="upsample"):
    _shapes(DCGANGenerator(resolution=16, upsample="bilinear"), jnp.zeros((1, 8)))
  with pytest.raises(ValueError, match="16x16"):
    _shapes(DCGANDiscriminator(resolution=16), jnp.zeros((1, 32, 32, 1)))


def test_discriminator_sows_features():
  d = DCGANDiscriminator(resolution=16, width=4)
  x = jnp.ones((3, 16, 16, 1))
  variables = d.init(jax.random.key(0), x, train=False)
  _, inter = d.apply(variables, x, train=False, mutable=["intermediates"])
  assert inter["intermediates"]["features"][0].shape == (3, 4 * 4 * 8)


def test_mlp_shapes_and_defaults():
  g = MLPGenerator(output_shape=(8, 8, 1))
  d = MLPDiscriminator()
  z = jnp.zeros((5, 64))
  gv = g.init(jax.random.key(0), z)
  img = g.apply(gv, z)
  assert img.shape == (5, 8, 8, 1)
  dv = d.init(jax.random.key(0), img)
  assert d.apply(dv, img).shape == (5,)
  # 64*256+256 + 256*256+256 + 256*64+64 parameters.
  assert count_params(gv["params"]) == 64 * 256 + 256 + 256 * 256 + 256 + 256 * 64 + 64


def test_build_from_config_and_unknown_model():
  from experiments.configs import dcgan, gan
  from ganjax import families, train
  g, d = families.of(dcgan.get_config()).networks(dcgan.get_config())
  assert isinstance(g, DCGANGenerator) and isinstance(d, DCGANDiscriminator)
  g, d = families.of(gan.get_config()).networks(gan.get_config())
  assert isinstance(g, MLPGenerator)
  c = gan.get_config()
  c.model = "resnet"
  with pytest.raises(ValueError, match="unknown model 'resnet'; valid: dcgan, mlp"):
    train.check_config(c)


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_spectral_norm_bounds_every_kernel_of_the_discriminator(model):
  from ganjax import train
  from experiments.configs import dcgan as dcgan_config
  c = dcgan_config.get_config()
  c.model, c.resolution, c.width, c.hidden, c.batch_size = model, 16, 4, (16,), 8
  c.d_normalization, c.info_categories = "none", 0
  off = train.create_state(c, jax.random.key(0)).discriminator
  c.spectral_norm = True
  state = train.create_state(c, jax.random.key(0))
  d = state.discriminator
  # The same parameters; the power iteration's u and sigma live in batch_stats.
  assert jax.tree.structure(off.params) == jax.tree.structure(d.params)
  assert not off.batch_stats and "sigma" in str(jax.tree_util.tree_leaves_with_path(d.batch_stats))
  step = jax.jit(train.build_step(c))
  batch = {"image": jax.random.uniform(jax.random.key(1), (8, 16, 16, 1), minval=-1, maxval=1)}
  for i in range(30):  # The power iteration converges as D trains.
    state, metrics = step(state, batch, jax.random.key(i))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  sigmas = [float(x) for path, x in jax.tree_util.tree_leaves_with_path(
      state.discriminator.batch_stats) if "sigma" in jax.tree_util.keystr(path)]
  kernels = [x for path, x in jax.tree_util.tree_leaves_with_path(state.discriminator.params)
             if "kernel" in jax.tree_util.keystr(path)]
  assert len(sigmas) == len(kernels) >= 2
  for kernel, sigma in zip(kernels, sigmas):  # Each estimate close to the true norm.
    true = np.linalg.norm(np.asarray(kernel).reshape(-1, kernel.shape[-1]), 2)
    np.testing.assert_allclose(sigma, true, rtol=0.05)

"""Loss families and mode-collapse remedies wired into configs, steps and entry points."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import families, losses, steps, train
from ganjax.families import base, gan as gan_family
from ganjax.state import count_params
from experiments.configs import dcgan, gan, lsgan, wgan, wgan_gp

# One set of fixed discriminator outputs for every wiring check.
REAL = jnp.array([1.5, -0.5, 0.25, 2.0])
FAKE = jnp.array([-1.0, 0.5, -2.0, 0.0])


from conftest import shrink as small  # noqa: E402  (no data needed: the tests make batches)


def _batch(c, seed=0):
  shape = (c.d_steps, c.batch_size, *families.of(c).example_shape(c))
  return {"image": jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape), jnp.float32)}


def _max_diff(a, b):
  return max(float(jnp.max(jnp.abs(x - y))) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# ----------------------------------------------------------------------------- loss wiring


def test_lsgan_default_targets_0_1_1():
  g_fn, d_fn = base.build_losses(lsgan.get_config())
  assert float(d_fn(REAL, FAKE)) == pytest.approx(
      0.5 * np.mean((np.asarray(REAL) - 1) ** 2) + 0.5 * np.mean(np.asarray(FAKE) ** 2))
  assert float(g_fn(FAKE)) == pytest.approx(0.5 * np.mean((np.asarray(FAKE) - 1) ** 2))
  # By hand: real (0.25 + 2.25 + 0.5625 + 1) / 4 / 2, fake (1 + 0.25 + 4 + 0) / 4 / 2.
  assert float(d_fn(REAL, FAKE)) == pytest.approx(4.0625 / 8 + 5.25 / 8)


def test_lsgan_minus1_1_0_coding():
  c = lsgan.get_config()
  c.least_squares_labels = (-1.0, 1.0, 0.0)
  g_fn, d_fn = base.build_losses(c)
  r, f = np.asarray(REAL), np.asarray(FAKE)
  assert float(d_fn(REAL, FAKE)) == pytest.approx(
      0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean((f + 1) ** 2))
  assert float(g_fn(FAKE)) == pytest.approx(0.5 * np.mean(f ** 2))


@pytest.mark.parametrize("name", ["hinge", "least_squares", "wasserstein", "minimax"])
def test_dcgan_loss_field_picks_the_family(name):
  c = dcgan.get_config()
  c.loss = name
  if name != "minimax":  # The digits default's rejection sampling needs a logistic D.
    with pytest.raises(train.ConfigError, match="set drs_keep=1"):
      train.check_config(c)
    c.drs_keep = 1.0
  g_fn, d_fn = base.build_losses(c)
  g_ref, d_ref = losses.get_loss_pair(name)
  assert float(g_fn(FAKE)) == pytest.approx(float(g_ref(FAKE)))
  assert float(d_fn(REAL, FAKE)) == pytest.approx(float(d_ref(REAL, FAKE)))
  train.check_config(c)


def test_hinge_values():
  c = dcgan.get_config()
  c.loss = "hinge"
  g_fn, d_fn = base.build_losses(c)
  # relu(1 - r) = (0, 1.5, 0.75, 0), relu(1 + f) = (0, 1.5, 0, 1).
  assert float(d_fn(REAL, FAKE)) == pytest.approx(2.25 / 4 + 2.5 / 4)
  assert float(g_fn(FAKE)) == pytest.approx(0.625)


def test_label_smoothing_reaches_only_the_discriminator():
  c = gan.get_config()
  c.label_smoothing = 0.2
  g_fn, d_fn = base.build_losses(c)
  assert float(d_fn(REAL, FAKE)) == pytest.approx(
      float(losses.minimax_discriminator_loss(REAL, FAKE, label_smoothing=0.2)))
  assert float(g_fn(FAKE)) == pytest.approx(float(losses.modified_generator_loss(FAKE)))
  c.loss = "hinge"
  with pytest.raises(train.ConfigError, match="label_smoothing=0"):
    train.check_config(c)


def test_unknown_loss_is_a_clear_error_listing_the_valid_ones():
  c = dcgan.get_config()
  c.loss = "wasserstien"
  with pytest.raises(train.ConfigError) as e:
    train.check_config(c)
  for name in losses.LOSS_FAMILIES:
    assert name in str(e.value)


def test_family_configs_follow_the_papers():
  w = wgan.get_config()
  assert (w.objective, w.loss, w.weight_clip, w.d_steps) == (
      "weight_clipping", "wasserstein", 0.01, 5)
  assert (w.optimizer.name, w.optimizer.d_learning_rate, w.optimizer.g_learning_rate) == (
      "rmsprop", 5e-5, 5e-5)
  gp = wgan_gp.get_config("cifar10")
  assert (gp.objective, gp.loss, gp.gp_weight, gp.d_steps, gp.d_normalization) == (
      "gradient_penalty", "wasserstein", 10.0, 5, "layer")
  assert (gp.optimizer.name, gp.optimizer.d_learning_rate, gp.optimizer.b1,
          gp.optimizer.b2) == ("adam", 1e-4, 0.0, 0.9)
  assert lsgan.get_config("mnist").least_squares_labels == (0.0, 1.0, 1.0)


# ----------------------------------------------------------------------------- WGAN


def _weight_clipping_reference(c, state, batch, rng):
  """WGAN's Algorithm 1 written out: update, clip; update, clip; ... then G."""
  g_loss_fn, d_loss_fn = base.build_losses(c)
  images = batch["image"]
  keys = jax.random.split(jax.random.fold_in(rng, state.step), images.shape[0])
  g, d = state.generator, state.discriminator
  for i in range(images.shape[0]):
    # The loop splits a critic update's key in two, the last update's in three.
    z_key = jax.random.split(keys[i], 3 if i == images.shape[0] - 1 else 2)[0]
    fake, g_stats = steps.generate(g, g.params, steps.sample_latent(z_key, c.batch_size,
                                                                     c.latent_dim))
    d, _ = steps.discriminator_update(d, images[i], fake, d_loss_fn)
    d = d.replace(params=jax.tree.map(lambda p: jnp.clip(p, -c.weight_clip, c.weight_clip),
                                      d.params))
  return d


def test_wgan_clips_every_critic_update():
  # The MLP critic compiles in a fraction of DCGAN's time; clipping is the same code.
  c = small(wgan.get_config(), d_steps=3, model="mlp", resolution=8)
  state = train.create_state(c, jax.random.key(0))
  # The initial params lie outside [-0.01, 0.01]: clipping bites.
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state.discriminator.params)) > 0.1
  new, metrics = jax.jit(train.build_step(c))(state, _batch(c), jax.random.key(1))
  assert int(new.discriminator.step) == 3 and int(new.generator.step) == 1
  for p in jax.tree.leaves(new.discriminator.params):
    assert float(jnp.max(jnp.abs(p))) <= c.weight_clip
  assert np.isfinite(float(metrics["g_loss"]))
  ref = jax.jit(lambda s, b, r: _weight_clipping_reference(c, s, b, r))(
      state, _batch(c), jax.random.key(1))
  assert _max_diff(ref.params, new.discriminator.params) < 1e-6


# ----------------------------------------------------------------------------- WGAN-GP


def test_gradient_penalty_is_in_the_critic_loss_and_moves_the_critic():
  c = small(wgan_gp.get_config(), d_steps=1, model="mlp", resolution=8)
  state = train.create_state(c, jax.random.key(0))
  batch, rng = _batch(c), jax.random.key(1)
  new, metrics = jax.jit(train.build_step(c))(state, batch, rng)
  # The penalty, recomputed by hand with the step's keys, on the critic before its update.
  key = jax.random.split(jax.random.fold_in(rng, 0), 1)[0]
  z_key, d_key = jax.random.split(key)
  g, d = state.generator, state.discriminator
  fake, _ = steps.generate(g, g.params, steps.sample_latent(z_key, c.batch_size, c.latent_dim))
  gp = jax.jit(losses.gradient_penalty, static_argnums=0)(
      lambda v, x: d.apply_fn(v, x, train=False), {"params": d.params}, batch["image"][0],
      fake, d_key)
  assert float(metrics["d_regularizer"]) == pytest.approx(10.0 * float(gp), rel=1e-4)
  # d_loss = mean D(fake) - mean D(real) + lambda * penalty.
  assert float(metrics["d_loss"]) == pytest.approx(
      float(metrics["d_fake_logit"]) - float(metrics["d_real_logit"]) +
      float(metrics["d_regularizer"]), rel=1e-4)
  # The penalty's gradient reaches the critic: lambda = 0 gives other params.
  c0 = small(wgan_gp.get_config(), d_steps=1, model="mlp", resolution=8, gp_weight=0.0)
  no_gp, _ = jax.jit(train.build_step(c0))(state, batch, rng)
  assert _max_diff(new.discriminator.params, no_gp.discriminator.params) > 1e-6


def test_gradient_penalty_refuses_a_batchnorm_critic():
  c = small(wgan_gp.get_config(), d_normalization="batch")
  with pytest.raises(train.ConfigError, match="without BatchNorm.*'layer' or 'none'"):
    train.check_config(c)
  train.check_config(small(wgan_gp.get_config(), d_normalization="none"))
  with pytest.raises(train.ConfigError, match="minibatch"):
    train.check_config(small(wgan_gp.get_config(), minibatch_kernels=3))


# ----------------------------------------------------------------------------- remedies


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_minibatch_discrimination_lets_d_see_the_batch(model):
  config = small(gan.get_config() if model == "mlp" else dcgan.get_config())
  x = jax.random.normal(jax.random.key(0), (4, *families.of(config).example_shape(config)))
  y = x.at[3].set(-x[3])  # Another batch member changes.
  for kernels, couples in [(0, False), (3, True)]:
    shrunk = small(config, minibatch_kernels=kernels, minibatch_kernel_dim=2,
                   d_normalization="none")
    _, d = families.of(shrunk).networks(shrunk)
    v = d.init(jax.random.key(1), x, train=False)
    out_x, out_y = d.apply(v, x, train=False), d.apply(v, y, train=False)
    assert out_x.shape == (4,)
    assert (abs(float(out_x[0] - out_y[0])) > 1e-7) == couples
    if kernels:
      features = v["params"]["MinibatchDiscrimination_0"]["kernel"].shape[0]
      assert v["params"]["MinibatchDiscrimination_0"]["kernel"].shape == (features, 3 * 2)
      assert v["params"]["Dense_0" if model == "dcgan" else f"Dense_{len(config.hidden)}"][
          "kernel"].shape == (features + 3, 1)


def test_default_switches_keep_the_dcgan_parameter_counts():
  c = dcgan.get_config("celeb_a")
  g, d = families.of(c).networks(c)
  shapes = lambda m, x: jax.eval_shape(lambda: m.init(jax.random.key(0), x, train=False))
  assert count_params(shapes(g, jnp.zeros((1, 100)))["params"]) == 3_576_704
  assert count_params(shapes(d, jnp.zeros((1, 64, 64, 3)))["params"]) == 2_765_568


def test_feature_matching_gradient_is_that_of_the_feature_matching_loss():
  c = small(gan.get_config(), objective="feature_matching", d_steps=1)
  state = train.create_state(c, jax.random.key(0))
  batch, rng = _batch(c), jax.random.key(2)
  new, metrics = jax.jit(train.build_step(c))(state, batch, rng)
  _, d_loss_fn = base.build_losses(c)

  @jax.jit
  def reference(state):
    """D's update, then G's gradient of ||mean f(real) - mean f(G(z))||^2."""
    key = jax.random.split(jax.random.fold_in(rng, 0), 1)[0]
    z = steps.sample_latent(jax.random.split(key, 3)[0], c.batch_size, c.latent_dim)
    g, d = state.generator, state.discriminator
    fake, _ = steps.generate(g, g.params, z)
    d, _ = steps.discriminator_update(d, batch["image"][0], fake, d_loss_fn)

    def fm(params):
      x, _ = steps.generate(g, params, z)
      real_f = steps.discriminator_features(d, d.params, batch["image"][0])
      return losses.feature_matching_loss(real_f, steps.discriminator_features(d, d.params, x))

    value, grads = jax.value_and_grad(fm)(g.params)
    return value, g.apply_gradients(grads=grads), d

  value, expected, d = reference(state)
  assert float(metrics["g_loss"]) == pytest.approx(float(value), rel=1e-5)
  assert _max_diff(new.generator.params, expected.params) < 1e-6
  assert _max_diff(new.discriminator.params, d.params) < 1e-6


def test_dcgan_with_every_remedy_trains():
  # Feature matching through a BatchNorm D, packing and minibatch discrimination at once.
  c = small(dcgan.get_config(), objective="feature_matching", pack=2, minibatch_kernels=2,
            label_smoothing=0.1)
  state = train.create_state(c, jax.random.key(0))
  new, metrics = jax.jit(train.build_step(c))(state, _batch(c), jax.random.key(0))
  assert np.isfinite(float(metrics["g_loss"])) and float(metrics["g_loss"]) > 0
  assert _max_diff(state.generator.params, new.generator.params) > 0
  assert _max_diff(state.discriminator.batch_stats, new.discriminator.batch_stats) > 0


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_packing_shapes(model):
  config = gan.get_config() if model == "mlp" else dcgan.get_config()
  c = small(config, pack=2)
  state = train.create_state(c, jax.random.key(0))
  d = state.discriminator
  x = _batch(c)["image"][0]
  assert d.apply_fn(d.variables(), x, train=False).shape == (c.batch_size // 2,)
  if model == "dcgan":
    assert d.params["Conv_0"]["kernel"].shape == (4, 4, 2 * c.channels, c.width)
  else:
    assert d.params["Dense_0"]["kernel"].shape == (2 * 8 * 8, 16)
  with pytest.raises(train.ConfigError, match="pack must"):
    train.check_config(small(config, pack=3))


def test_packed_images_stack_on_channels():
  from ganjax import packing
  x = jnp.arange(4 * 2 * 2 * 3, dtype=jnp.float32).reshape(4, 2, 2, 3)
  p = packing.pack(x, 2)
  assert p.shape == (2, 2, 2, 6)
  np.testing.assert_array_equal(p[1, :, :, :3], x[2])
  np.testing.assert_array_equal(p[1, :, :, 3:], x[3])


# ----------------------------------------------------------------------------- entry points


@pytest.mark.parametrize("name,overrides", [
    ("lsgan", {}), ("wgan", {"d_steps": 2}), ("wgan_gp", {"d_steps": 2}),
    ("gan", {"objective": "feature_matching", "minibatch_kernels": 2, "pack": 2,
             "label_smoothing": 0.1}),
])
def test_entry_point_configs_train_a_step_on_digits(tmp_path, data_dir, name, overrides):
  module = {"lsgan": lsgan, "wgan": wgan, "wgan_gp": wgan_gp, "dcgan": dcgan, "gan": gan}[name]
  c = small(module.get_config(), data_dir=data_dir, num_steps=1, log_every=1,
            sample_every=1, checkpoint_every=1, num_sample_images=4, **overrides)
  state = train.train_and_evaluate(c, str(tmp_path))
  assert int(state.step) == 1
  assert int(state.discriminator.step) == c.d_steps
  assert os.path.exists(tmp_path / "samples" / "step_000001.png")


def test_linear_learning_rate_schedule_decays_to_zero():
  import optax
  c = small(gan.get_config(), num_steps=4, d_steps=2)
  c.optimizer.schedule = "linear"
  g_tx, d_tx = base.build_optimizers(c)
  params = {"w": jnp.ones(3)}
  grads = {"w": jnp.ones(3)}

  def sizes(tx, n):
    state, out = tx.init(params), []
    for _ in range(n):
      updates, state = tx.update(grads, state, params)
      out.append(float(jnp.abs(updates["w"][0])))
    return out

  g = sizes(g_tx, 5)
  assert g[0] > g[1] > g[2] > g[3] > 0 and g[4] == 0  # G: 4 steps.
  d = sizes(d_tx, 9)
  assert d[7] > 0 and d[8] == 0  # D: d_steps * num_steps updates.
  c.optimizer.schedule = "cosine"
  with pytest.raises(train.ConfigError, match="schedule"):
    train.check_config(c)

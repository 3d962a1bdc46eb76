"""The pure train step: it trains, is pure, reuses G's forward pass, keeps the EMA."""

import collections
import functools
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import losses, steps, train
from ganjax.families import base
from ganjax.state import GANState, update_ema
from experiments.configs import dcgan, gan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_dcgan(**overrides):
  c = dcgan.get_config()
  c.width, c.latent_dim, c.batch_size, c.resolution = 4, 8, 8, 16
  c.info_categories = 0  # The plain DCGAN step (InfoGAN's code has a test of its own).
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _batch(c, seed=0):
  rng = np.random.default_rng(seed)
  shape = (c.d_steps, c.batch_size, c.resolution, c.resolution, c.channels)
  return {"image": jnp.asarray(rng.uniform(-1, 1, shape), jnp.float32)}


def _max_diff(a, b):
  return max(float(jnp.max(jnp.abs(x - y))) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def dcgan_step():
  c = tiny_dcgan()
  return c, jax.jit(train.build_step(c))


def test_step_updates_both_networks_and_counts(dcgan_step):
  c, step = dcgan_step
  state = train.create_state(c, jax.random.key(0))
  new, metrics = step(state, _batch(c), jax.random.key(1))
  assert int(new.step) == 1 and int(new.generator.step) == 1
  assert int(new.discriminator.step) == 1
  assert _max_diff(state.generator.params, new.generator.params) > 0
  assert _max_diff(state.discriminator.params, new.discriminator.params) > 0
  assert _max_diff(state.generator.batch_stats, new.generator.batch_stats) > 0
  for k in ("d_loss", "g_loss", "d_real_logit", "d_fake_logit"):
    assert np.isfinite(float(metrics[k]))


def test_step_is_pure_and_deterministic(dcgan_step):
  c, step = dcgan_step
  state = train.create_state(c, jax.random.key(0))
  a, _ = step(state, _batch(c), jax.random.key(1))
  b, _ = step(state, _batch(c), jax.random.key(1))
  assert _max_diff(a.generator.params, b.generator.params) == 0
  assert int(state.step) == 0  # The input state is untouched.


def _reference_step(c, state, batch, rng):
  """The textbook step: D update, then a fresh G forward pass for G's update."""
  g_loss_fn, d_loss_fn = base.build_losses(c)
  key = jax.random.split(jax.random.fold_in(rng, state.step), 1)[0]
  key = jax.random.split(key, 3)[0]  # The last D update's key: (z, D, G).
  g, d = state.generator, state.discriminator
  z = steps.sample_latent(key, c.batch_size, c.latent_dim)
  fake, g_stats = steps.generate(g, g.params, z)
  d, _ = steps.discriminator_update(d, batch["image"][0], jax.lax.stop_gradient(fake),
                                    d_loss_fn)

  def g_loss(p):
    x, _ = steps.generate(g, p, z)
    logits, _ = steps.apply_train(d, d.params, x)
    return g_loss_fn(logits)

  grads = jax.grad(g_loss)(g.params)
  g = g.apply_gradients(grads=grads).replace(batch_stats=g_stats)
  return state.replace(step=state.step + 1, generator=g, discriminator=d)


def test_reusing_the_generator_pass_equals_the_textbook_step(dcgan_step):
  c, step = dcgan_step
  state = train.create_state(c, jax.random.key(0))
  fast, _ = step(state, _batch(c), jax.random.key(3))
  ref = jax.jit(functools.partial(_reference_step, c))(state, _batch(c), jax.random.key(3))
  assert _max_diff(fast.generator.params, ref.generator.params) < 1e-6
  assert _max_diff(fast.discriminator.params, ref.discriminator.params) < 1e-6


def test_d_steps_run_that_many_discriminator_updates():
  c = gan.get_config()
  c.hidden, c.batch_size, c.d_steps = (16,), 4, 3
  state = train.create_state(c, jax.random.key(0))
  new, _ = jax.jit(train.build_step(c))(state, _batch(c), jax.random.key(0))
  assert int(new.discriminator.step) == 3 and int(new.generator.step) == 1


def test_ema_tracks_generator():
  c = gan.get_config()
  c.hidden, c.batch_size, c.ema_decay = (16,), 4, 0.9
  state = train.create_state(c, jax.random.key(0))
  new, _ = jax.jit(train.build_step(c))(state, _batch(c), jax.random.key(0))
  # The first update: the warm-up decay min(0.9, 1/10) = 0.1.
  expected = update_ema(state.ema_params, new.generator.params, 0.1)
  assert _max_diff(new.ema_params, expected) < 1e-7
  assert _max_diff(new.ema_params, new.generator.params) > 0
  later = state.replace(step=jnp.asarray(1000, state.step.dtype))
  new, _ = jax.jit(train.build_step(c))(later, _batch(c), jax.random.key(0))
  expected = update_ema(state.ema_params, new.generator.params, 0.9)  # Warmed up: 0.9.
  assert _max_diff(new.ema_params, expected) < 1e-7
  assert train.create_state(gan.get_config(), jax.random.key(0)).ema_params is None


def test_the_ema_generator_keeps_its_own_batchnorm_statistics_when_asked():
  c = tiny_dcgan(ema_decay=0.9, ema_batch_stats="own")
  state = train.create_state(c, jax.random.key(0))
  assert _max_diff(state.ema_batch_stats, state.generator.batch_stats) == 0
  step = jax.jit(train.build_step(c))
  new, _ = step(state, _batch(c), jax.random.key(3))
  # The EMA weights in train mode on this step's z (the step's draw, replayed), from the
  # statistics they had: what the step stored.
  keys = jax.random.split(jax.random.fold_in(jax.random.key(3), state.step), 1)
  z = steps.sample_latent(jax.random.split(keys[-1], 3)[0], c.batch_size, c.latent_dim)
  _, expected = steps.apply_train(new.generator, new.ema_params, z,
                                  batch_stats=state.ema_batch_stats)
  assert _max_diff(new.ema_batch_stats, expected) < 1e-6
  assert _max_diff(new.ema_batch_stats, new.generator.batch_stats) > 1e-6  # Other weights.
  assert new.sampling_variables()["batch_stats"] is new.ema_batch_stats
  # The default samples with the live generator's statistics and keeps none of its own.
  live = train.create_state(tiny_dcgan(ema_decay=0.9, ema_batch_stats="live"),
                            jax.random.key(0))
  assert not hasattr(live, "ema_batch_stats")  # Every other run's checkpoints unchanged.
  assert live.sampling_variables()["batch_stats"] is live.generator.batch_stats
  with pytest.raises(Exception, match="ema_batch_stats must be one of live, own"):
    train.check_config(tiny_dcgan(ema_batch_stats="standing"))


def test_top_k_training_gives_g_the_gradient_of_its_k_best_scored_samples_only():
  from ganjax.families import gan as gan_family
  c = gan.get_config()
  c.hidden, c.batch_size, c.top_k, c.top_k_decay = (16,), 8, 0.5, 0.9
  state = train.create_state(c, jax.random.key(0))
  fake = jax.random.normal(jax.random.key(1), (8, *base.image_shape(c)))
  d = state.discriminator.replace(step=jnp.asarray(3))  # 0.9^3 = 0.729: k = ceil(5.83).
  g_loss = gan_family.top_k_g_loss(losses.non_saturating_generator_loss, 0.5, 0.9)
  (value, metrics), grad = jax.value_and_grad(g_loss, has_aux=True)(fake, d, {}, {}, None)
  logits, _ = steps.apply_train(d, d.params, fake)
  best = np.argsort(-np.asarray(logits))[:6]
  assert float(metrics["top_k"]) == 6
  np.testing.assert_allclose(value, losses.non_saturating_generator_loss(logits[best]),
                             rtol=1e-6)
  norms = np.linalg.norm(np.asarray(grad).reshape(8, -1), axis=1)
  assert (norms[best] > 0).all() and (np.delete(norms, best) == 0).all()
  # Annealed from the whole batch down to the final share.
  np.testing.assert_allclose(
      [gan_family.top_k_fraction(t, 0.5, 0.9) for t in (0, 1, 3, 100)],
      [1.0, 0.9, 0.729, 0.5], rtol=1e-6)
  new, m = jax.jit(train.build_step(c))(state, _batch(c), jax.random.key(0))
  assert float(m["top_k"]) == 8 and np.isfinite(float(m["g_loss"]))  # ceil(8 x 0.9^1).
  for bad in (0.0, 1.5):
    c.top_k = bad
    with pytest.raises(train.ConfigError, match="top_k and top_k_decay must be in"):
      train.check_config(c)


def test_one_critic_step_takes_a_plain_batch_and_more_take_them_stacked():
  c = gan.get_config()
  c.hidden, c.batch_size = (16,), 4
  state = train.create_state(c, jax.random.key(0))
  step = jax.jit(train.build_step(c))
  stacked = _batch(c)
  a, _ = step(state, stacked, jax.random.key(0))
  b, _ = step(state, {"image": stacked["image"][0]}, jax.random.key(0))  # (B, ...)
  assert _max_diff(a, b) == 0
  c.d_steps = 3
  with pytest.raises(ValueError, match=r"d_steps=3: the step takes 3 minibatches stacked, "
                     r"each feature \(d_steps, B, \.\.\.\); got image \(4, 8, 8, 1\)"):
    train.build_step(c)(state, {"image": stacked["image"][0]}, jax.random.key(0))


def test_r1_penalises_the_real_gradient_lazily_every_k_d_updates():
  from ganjax import losses
  c = gan.get_config()
  c.hidden, c.batch_size, c.objective, c.r1_gamma, c.r1_interval = (16,), 4, "r1", 4.0, 3
  state = train.create_state(c, jax.random.key(0))
  step = jax.jit(train.build_step(c))
  batch = _batch(c)
  d = state.discriminator
  expected = 3 * 4.0 / 2 * losses.r1_penalty(lambda v, x: d.apply_fn(v, x, train=False),
                                             d.variables(), batch["image"][0])
  regs = []
  for i in range(4):
    state, metrics = step(state, batch, jax.random.key(i))
    regs.append(float(metrics["d_regularizer"]))
  np.testing.assert_allclose(regs[0], float(expected), rtol=1e-5)  # D's update 0: penalised,
  assert regs[1] == regs[2] == 0.0 and regs[3] > 0                 # then every 3rd.
  c.model, c.resolution = "dcgan", 16
  with pytest.raises(train.ConfigError, match="R1 penalty is per example .* BatchNorm"):
    train.check_config(c)
  c.model, c.resolution, c.r1_interval = "mlp", 8, 0
  with pytest.raises(train.ConfigError, match="r1_interval >= 1"):
    train.check_config(c)


def test_ema_warmup_decay_grows_with_the_updates_up_to_the_decay():
  from ganjax.state import ema_warmup_decay
  np.testing.assert_allclose([ema_warmup_decay(0.999, t) for t in (0, 90, 8991, 10**6)],
                             [0.1, 0.91, 0.999, 0.999], rtol=1e-6)


def test_training_a_tiny_gan_moves_the_generator_towards_the_data():
  """On a 1-D-like target (all images = +0.5), a few hundred steps pull G's mean there."""
  c = gan.get_config()
  c.hidden, c.batch_size, c.latent_dim, c.resolution = (32,), 32, 4, 2
  c.optimizer.g_learning_rate = c.optimizer.d_learning_rate = 2e-3
  state = train.create_state(c, jax.random.key(0))
  step = jax.jit(train.build_step(c))
  batch = {"image": jnp.full((1, 32, 2, 2, 1), 0.5)}
  for i in range(300):
    state, m = step(state, batch, jax.random.key(0))
  sample = train.make_sampler(c)(state, jax.random.normal(jax.random.key(9), (256, 4)))
  assert abs(float(jnp.mean(sample)) - 0.5) < 0.15


SHARDED = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np
    jax.config.update("jax_disable_most_optimizations", True)
    sys.path.insert(0, {root!r})
    from ganjax import parallel, train
    from experiments.configs import dcgan
    c = dcgan.get_config(); c.width, c.latent_dim, c.batch_size, c.resolution = 4, 8, 8, 16
    c.info_categories = 4
    assert len(jax.devices()) == 4
    rng = np.random.default_rng(0)
    batches = [{{"image": rng.uniform(-1, 1, (1, 8, 16, 16, 1)).astype(np.float32)}}
               for _ in range(3)]

    def run(devices):
      mesh = parallel.make_mesh(devices)
      repl = parallel.replicated(mesh)
      state = jax.device_put(train.create_state(c, jax.random.key(0)), repl)
      step = jax.jit(train.build_step(c), in_shardings=(repl, parallel.batch_sharding(mesh, 1), repl),
                     out_shardings=(repl, repl), donate_argnums=0)
      for b in batches:
        state, m = step(state, parallel.put_batch(b, mesh, 1), jax.random.key(1))
      return jax.device_get(state), jax.device_get(m)

    one, m1 = run(jax.devices()[:1])
    four, m4 = run(jax.devices())
    diffs = [float(np.max(np.abs(a - b))) for a, b in
             zip(jax.tree.leaves((one.generator, one.discriminator)),
                 jax.tree.leaves((four.generator, four.discriminator)))]
    print("MAXDIFF", max(diffs), float(m1["d_loss"]), float(m4["d_loss"]))
    assert max(diffs) < 1e-4, max(diffs)
""")


def test_four_devices_train_the_same_params_as_one():
  out = subprocess.run([sys.executable, "-c", SHARDED.format(root=ROOT)], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "MAXDIFF" in out.stdout


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU convolution forms")
@pytest.mark.parametrize("objective", ["adversarial", "gradient_penalty"])
def test_critic_loop_convolutions_take_the_library_path(objective):
  """No convolution of the compiled step may run as XLA:CPU's naive loop.

  XLA:CPU runs a convolution on Eigen/YNNPACK only in the NHWC/HWIO form (dim_labels
  b01f_01io->b01f) and rewrites other forms into it only in the entry computation: a
  critic update left inside a while loop keeps its kernel gradients in another form and
  made d_steps=5 cost 60x d_steps=1 at 32x32 (issue 17). d_steps=3: at 1 the loop is empty.
  """
  c = tiny_dcgan(d_steps=3, objective=objective,
                 d_normalization="layer" if objective == "gradient_penalty" else "batch")
  state = train.create_state(c, jax.random.key(0))
  hlo = jax.jit(train.build_step(c)).lower(state, _batch(c), jax.random.key(1)).compile()
  forms = collections.Counter(re.findall(r" convolution\(.*?dim_labels=([^,\s]+)",
                                         hlo.as_text()))
  assert forms and set(forms) == {"b01f_01io->b01f"}, forms


def test_infogan_code_steers_g_q_reads_it_and_both_losses_add_it():
  from ganjax.families import gan as gan_family
  from ganjax.models.dcgan import info_code_of
  c = tiny_dcgan(info_categories=4, info_weight=2.0)
  c.optimizer.g_learning_rate = c.optimizer.d_learning_rate = 2e-3  # Learns in a few steps.
  state = train.create_state(c, jax.random.key(0))
  g, d = state.generator, state.discriminator
  z = steps.sample_latent(jax.random.key(1), 8, c.latent_dim)
  # c = argmax of z's first K coordinates: uniform, and G(z) is G(z, c(z)).
  codes = np.asarray(info_code_of(steps.sample_latent(jax.random.key(2), 4000, 8), 4))
  np.testing.assert_allclose(np.bincount(codes, minlength=4) / 4000, 0.25, atol=0.03)
  x = g.apply_fn(g.variables(), z, train=False)
  np.testing.assert_array_equal(
      x, g.apply_fn(g.variables(), z, train=False, info_code=info_code_of(z, 4)))
  other = g.apply_fn(g.variables(), z, train=False, info_code=(info_code_of(z, 4) + 1) % 4)
  assert float(jnp.max(jnp.abs(x - other))) > 0
  # Q is a head of D (its params D's); without the switch D has none (checkpoints unchanged).
  assert d.params["info"]["kernel"].shape[-1] == 4
  off = train.create_state(tiny_dcgan(info_categories=0), jax.random.key(0))
  assert "info" not in off.discriminator.params
  from conftest import spectral_kernels  # Spectral norm covers Q's kernel too.
  sn = train.create_state(tiny_dcgan(info_categories=4, spectral_norm=True), jax.random.key(0))
  assert ("info", "kernel") in spectral_kernels(sn.discriminator)
  # Each side's loss is the plain loss plus weight x CE(Q(G(z)), c), Q reading D's pass
  # over the generated batch: the statistics are those of the plain loss.
  code = info_code_of(z, 4)
  _, sown = d.apply_fn(d.variables(), x, train=True, mutable=["intermediates", "batch_stats"])
  ce = losses.auxiliary_classifier_loss(sown["intermediates"]["info_logits"][0], code)
  assert float(ce) > 0
  plain_d = steps.adversarial_d_loss(losses.minimax_discriminator_loss)
  mb, kw, key = {"image": _batch(c)["image"][0]}, {"info_code": code}, jax.random.key(3)
  plain, (plain_stats, _) = plain_d(d.params, d, mb, x, kw, key)
  with_info, (stats, m) = gan_family.info_d_loss(losses.minimax_discriminator_loss, 2.0)(
      d.params, d, mb, x, kw, key)
  np.testing.assert_allclose(with_info, plain + 2.0 * ce, rtol=1e-5)
  np.testing.assert_allclose(m["d_info_loss"], ce, rtol=1e-5)
  jax.tree.map(np.testing.assert_array_equal, stats, plain_stats)
  plain_g = steps.adversarial_g_loss(losses.modified_generator_loss)
  with_info, _ = gan_family.info_g_loss(losses.modified_generator_loss, 2.0)(x, d, mb, kw, key)
  np.testing.assert_allclose(with_info, plain_g(x, d, mb, kw, key)[0] + 2.0 * ce, rtol=1e-5)
  # Trained, Q learns to name the code G was given.
  step = jax.jit(train.build_step(c))
  batch = _batch(c)
  first = None
  for i in range(40):
    state, m = step(state, batch, jax.random.key(10 + i))
    first = float(m["d_info_loss"]) if first is None else first
  assert float(m["d_info_loss"]) < 0.5 * first, (first, float(m["d_info_loss"]))
  for bad, match in [({"info_categories": 9}, "info_categories must be 0"),
                     ({"info_categories": 1}, "info_categories must be 0"),
                     ({"objective": "r1", "d_normalization": "none"}, "needs model dcgan"),
                     ({"diff_augment": "translation"}, "each plain sample"),
                     ({"top_k": 0.5}, "each plain sample"),
                     ({"pack": 2, "drs_keep": 1.0}, "each plain sample")]:
    with pytest.raises(train.ConfigError, match=match):
      train.check_config(tiny_dcgan(**{"info_categories": 4, **bad}))

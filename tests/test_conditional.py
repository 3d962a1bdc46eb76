"""The conditional family: cgan, acgan, sgan losses, models, steps, labelled split, grid, runs."""

import functools
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds
from jax.test_util import check_grads

from ganjax import data, evaluate, labeled_subset, losses, steps, train
from ganjax.families import base
from ganjax.families import cgan as cgan_family
from ganjax.families import sgan as sgan_family
from ganjax.models.acgan import ACGANDiscriminator
from ganjax.models.cgan import ConditionalDiscriminator, ConditionalGenerator
from ganjax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganjax.models.features import ConvFeatures, MLPFeatures
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator
from ganjax.models.sgan import SGANDiscriminator
from ganjax.restore import load_trained
from experiments.configs import acgan, cgan, sgan
from conftest import check_spectral_norm, shrink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ----------------------------------------------------------------------------- losses
# Class logits (B=3, K=3) and labels; expected values computed independently in float64
# with math.log/math.exp (not with the code under test):
#   logsumexp rows: ln 3 = 1.0986122886681098, ln(e^2 + 1 + e^-1) = 2.1698460195562856,
#                   ln(e^-3 + e + e^0.5) = 1.485413225832131
#   cross-entropy rows: lse - l_y = 1.0986..., 2.1698... + 1, 1.4854... - 1
LOGITS = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, -1.0], [-3.0, 1.0, 0.5]], np.float32)
LABELS = np.array([0, 2, 1], np.int32)
GEN_LOGITS = np.array([[-1.0, -2.0, 0.0], [1.0, 1.0, 1.0]], np.float32)  # lse 0.4076, 2.0986


def test_auxiliary_classifier_loss_exact_value_and_optax_agreement():
  assert float(losses.auxiliary_classifier_loss(LOGITS, LABELS)) == pytest.approx(
      1.5846238446855088, rel=1e-6)
  ref = optax.softmax_cross_entropy_with_integer_labels(LOGITS, LABELS).mean()
  assert float(losses.auxiliary_classifier_loss(LOGITS, LABELS)) == pytest.approx(float(ref))
  # Patch-shaped: (B, H, W, K) logits with (B, H, W) labels.
  patch = jnp.tile(LOGITS[:, None, None, :], (1, 2, 2, 1))
  labels = jnp.tile(LABELS[:, None, None], (1, 2, 2))
  assert float(losses.auxiliary_classifier_loss(patch, labels)) == pytest.approx(
      1.5846238446855088, rel=1e-6)


def test_semi_supervised_losses_exact_values():
  # D: mean softplus(-lse(real)) + mean softplus(lse(gen)) = 0.19996820554849234 + 1.565929547975979
  assert float(losses.semi_supervised_discriminator_loss(LOGITS, GEN_LOGITS)) == pytest.approx(
      1.7658977535244713, rel=1e-6)
  # G: mean softplus(-lse(gen))
  assert float(losses.semi_supervised_generator_loss(GEN_LOGITS)) == pytest.approx(
      0.31282042141973393, rel=1e-6)
  np.testing.assert_allclose(losses.semi_supervised_source_logits(LOGITS),
                             [1.0986122886681098, 2.1698460195562856, 1.485413225832131],
                             rtol=1e-6)


def test_k_plus_one_logit_trick_equals_a_softmax_with_a_zero_fake_logit():
  """D(x) = Z / (Z + 1) is the non-fake mass of a (K+1)-way softmax whose fake logit is 0."""
  def with_fake(logits):
    return jnp.concatenate([logits, jnp.zeros(logits.shape[:-1] + (1,))], axis=-1)

  k = LOGITS.shape[-1]
  p_fake_real = jax.nn.softmax(with_fake(LOGITS))[:, k]
  minus_log_real = -jnp.log1p(-p_fake_real)  # -log D(x): "any real class"
  minus_log_fake = optax.softmax_cross_entropy_with_integer_labels(
      with_fake(GEN_LOGITS), jnp.full((2,), k))  # -log(1 - D(G(z))): "the fake class"
  expected = minus_log_real.mean() + minus_log_fake.mean()
  got = losses.semi_supervised_discriminator_loss(LOGITS, GEN_LOGITS)
  assert float(got) == pytest.approx(float(expected), rel=1e-6)
  z = jnp.exp(LOGITS).sum(-1)
  np.testing.assert_allclose(jax.nn.sigmoid(losses.semi_supervised_source_logits(LOGITS)),
                             z / (z + 1), rtol=1e-6)
  # The supervised term over K classes = the K+1 softmax conditioned on "real".
  p = jax.nn.softmax(with_fake(LOGITS))
  cond = -jnp.log(p[jnp.arange(3), LABELS] / (1 - p[:, k]))
  assert float(losses.auxiliary_classifier_loss(LOGITS, LABELS)) == pytest.approx(
      float(cond.mean()), rel=1e-5)


def test_class_losses_are_finite_for_huge_logits_and_have_correct_gradients():
  huge = jnp.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
  for value in (losses.semi_supervised_discriminator_loss(huge, huge),
                losses.semi_supervised_generator_loss(huge),
                losses.auxiliary_classifier_loss(huge, jnp.array([1, 0]))):
    assert np.isfinite(float(value))
  grads = jax.grad(losses.semi_supervised_discriminator_loss, argnums=(0, 1))(huge, huge)
  assert all(np.isfinite(np.asarray(g)).all() for g in grads)
  check_grads(losses.semi_supervised_discriminator_loss, (LOGITS, GEN_LOGITS), order=1,
              modes=["rev"], atol=1e-2, rtol=1e-2)
  check_grads(lambda l: losses.auxiliary_classifier_loss(l, LABELS), (LOGITS,), order=1,
              modes=["rev"], atol=1e-2, rtol=1e-2)
  jitted = jax.jit(losses.semi_supervised_discriminator_loss)
  assert float(jitted(LOGITS, GEN_LOGITS)) == pytest.approx(1.7658977535244713, rel=1e-6)


def test_class_losses_reject_bad_input():
  with pytest.raises(TypeError, match="integer"):
    losses.auxiliary_classifier_loss(LOGITS, LABELS.astype(np.float32))
  with pytest.raises(ValueError, match="shape"):
    losses.auxiliary_classifier_loss(LOGITS, LABELS[:2])
  with pytest.raises(ValueError, match="num_classes"):
    losses.semi_supervised_generator_loss(np.zeros((4,), np.float32))
  with pytest.raises(ValueError, match="same shape"):
    losses.semi_supervised_discriminator_loss(LOGITS, np.zeros((2, 4), np.float32))
  with pytest.raises(TypeError, match="floating"):
    losses.semi_supervised_discriminator_loss(LABELS[:, None], LABELS[:, None])


# ----------------------------------------------------------------------------- models


def _init_apply(module, *args, train=False, **kwargs):
  variables = module.init(jax.random.key(0), *args, train=False)
  rngs = {"dropout": jax.random.key(1)}
  if "batch_stats" in variables:
    return module.apply(variables, *args, train=train, rngs=rngs, mutable=["batch_stats"])[0]
  return module.apply(variables, *args, train=train, rngs=rngs)


def test_conditional_networks_shapes_and_that_labels_matter():
  z, y = jnp.ones((4, 8)), jnp.array([0, 1, 2, 3])
  x16 = jnp.zeros((4, 16, 16, 1))
  g = ConditionalGenerator(DCGANGenerator(resolution=16, channels=1, width=4), num_classes=10)
  shapes = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), z, y, train=False))
  assert shapes[0].shape == (4, 16, 16, 1)
  assert shapes[1]["params"]["base"]["ConvTranspose_0"]["kernel"].shape[2] == 8 + 10
  g_mlp = ConditionalGenerator(MLPGenerator(output_shape=(8, 8, 1), hidden=(16,)),
                               num_classes=10, embedding_dim=3)
  out = _init_apply(g_mlp, z, y)
  assert out.shape == (4, 8, 8, 1)
  assert float(jnp.abs(out[0] - out[1]).max()) > 0  # Same z, other label: another image.
  d = ConditionalDiscriminator(DCGANDiscriminator(resolution=16, width=4, normalization="none"),
                               num_classes=10, join="maps")
  v = d.init(jax.random.key(0), x16 + 0.5, y, train=False)
  assert v["params"]["base"]["Conv_0"]["kernel"].shape[2] == 1 + 10  # Image + label maps.
  a = d.apply(v, x16 + 0.5, y, train=False)
  b = d.apply(v, x16 + 0.5, y[::-1], train=False)
  assert a.shape == (4,) and float(jnp.abs(a - b).max()) > 0
  d_mlp = ConditionalDiscriminator(MLPDiscriminator(hidden=(16,)), num_classes=10)
  assert _init_apply(d_mlp, jnp.zeros((4, 8, 8, 1)), y).shape == (4,)
  with pytest.raises(ValueError, match="one label per example"):
    _init_apply(d_mlp, jnp.zeros((4, 8, 8, 1)), y[:2])
  with pytest.raises(TypeError, match="integer"):
    _init_apply(d_mlp, jnp.zeros((4, 8, 8, 1)), y.astype(jnp.float32))


def test_acgan_and_sgan_discriminators_heads_and_noise():
  x = jax.random.normal(jax.random.key(2), (4, 16, 16, 1))
  source, classes = _init_apply(ACGANDiscriminator(ConvFeatures(resolution=16, width=4),
                                                   num_classes=10), x)
  assert source.shape == (4,) and classes.shape == (4, 10)
  d = SGANDiscriminator(MLPFeatures(hidden=(16,), input_noise=0.3, hidden_noise=0.5),
                        num_classes=10)
  v = d.init(jax.random.key(0), x, train=False)
  logits = d.apply(v, x, train=False)
  assert logits.shape == (4, 10)
  # Noise only in training, and drawn from the 'dropout' stream.
  np.testing.assert_array_equal(logits, d.apply(v, x, train=False))
  noisy = [d.apply(v, x, train=True, rngs={"dropout": jax.random.key(i)}) for i in (1, 2)]
  assert float(jnp.abs(noisy[0] - noisy[1]).max()) > 0
  _, feats = d.apply(v, x, train=False, mutable=["intermediates"])
  assert feats["intermediates"]["features"][0].shape == (4, 16)


# ----------------------------------------------------------------------------- configs


def tiny(config, data_dir="", **overrides):
  """conftest's shrink at 2 steps, sampling a 10 x 2 class grid every step."""
  return shrink(config, data_dir, **{"num_steps": 2, "log_every": 1, "sample_every": 1,
                                     "checkpoint_every": 2, "num_sample_images": 20,
                                     **overrides})


def test_configs_default_to_digits_and_bad_values_are_clear_errors():
  for module in (cgan, acgan, sgan):
    for variant in module.VARIANTS:
      c = module.get_config(variant)
      assert c.family == module.__name__.rsplit(".", 1)[1] and c.num_classes == 10
      train.check_config(c)
  assert sgan.get_config().num_labeled == 50 and sgan.get_config().dataset == "digits"
  for module, field, value, match in [
      (sgan, "num_labeled", 7, "multiple of num_classes"),
      (sgan, "num_labeled", 0, "multiple of num_classes"),
      (sgan, "sgan_generator_loss", "l2", "sgan_generator_loss"),
      (cgan, "label_embedding", -1, "label_embedding"),
      (acgan, "d_dropout", 1.0, "d_dropout"),
      (cgan, "model", "resnet", "model"),
      (acgan, "num_classes", 1, "num_classes")]:
    c = module.get_config()
    setattr(c, field, value)
    with pytest.raises(train.ConfigError, match=match):
      train.check_config(c)


def test_batch_sizes_that_do_not_divide_over_the_devices_are_clear_errors():
  train.check_devices(tiny(sgan.get_config()), 4)  # batch_size 8, labeled_batch_size 4.
  train.check_devices(tiny(cgan.get_config(), labeled_batch_size=6), 4)  # No labelled stream.
  with pytest.raises(train.ConfigError, match=(
      r"^labeled_batch_size 6 does not divide over the 4 devices: "
      r"set labeled_batch_size to a multiple of 4 \(e\.g\. 8\)$")):
    train.check_devices(tiny(sgan.get_config(), labeled_batch_size=6), 4)
  with pytest.raises(train.ConfigError, match=r"^batch_size 6 does not divide over the 4 "):
    train.check_devices(tiny(sgan.get_config(), batch_size=6), 4)


# ----------------------------------------------------------------------------- steps


def _labelled_batch(c, seed=0):
  rng = np.random.default_rng(seed)
  shape = (c.d_steps, c.batch_size, c.resolution, c.resolution, c.channels)
  batch = {"image": rng.uniform(-1, 1, shape).astype(np.float32)}
  if c.family == "sgan":
    batch["labeled_image"] = rng.uniform(-1, 1, shape[:1] + (c.labeled_batch_size,)
                                         + shape[2:]).astype(np.float32)
    batch["labeled_label"] = rng.integers(0, 10, (c.d_steps, c.labeled_batch_size),
                                          dtype=np.int32)
  else:
    batch["label"] = rng.integers(0, 10, shape[:2], dtype=np.int32)
  return jax.tree.map(jnp.asarray, batch)


def _max_diff(a, b):
  return max(float(jnp.max(jnp.abs(x - y))) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("config", [
    tiny(cgan.get_config("digits_mlp"), d_steps=2),
    tiny(acgan.get_config("digits")),
    tiny(sgan.get_config("digits"), d_steps=2)],
    ids=["cgan", "acgan", "sgan"])
def test_each_step_updates_both_networks_and_is_pure(config):
  c = config
  state = train.create_state(c, jax.random.key(0))
  step = jax.jit(train.build_step(c))
  batch = _labelled_batch(c)
  new, metrics = step(state, batch, jax.random.key(1))
  again, _ = step(state, batch, jax.random.key(1))
  assert int(new.step) == 1 and int(new.discriminator.step) == c.d_steps
  assert _max_diff(state.generator.params, new.generator.params) > 0
  assert _max_diff(state.discriminator.params, new.discriminator.params) > 0
  assert _max_diff(new.generator.params, again.generator.params) == 0
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert {"d_loss", "g_loss"} <= set(metrics)


@pytest.mark.parametrize("config", [
    tiny(cgan.get_config("digits_mlp")),    # MLPDiscriminator (label appended)
    tiny(acgan.get_config("digits")),       # ConvFeatures, source and class heads
    tiny(sgan.get_config("digits"))],       # MLPFeatures, class head
    ids=["cgan", "acgan", "sgan"])
def test_spectral_norm_switch_normalises_every_kernel_of_the_discriminator(config):
  check_spectral_norm(config, _labelled_batch(config))


def test_cgan_step_reusing_the_generator_pass_equals_the_textbook_step():
  c = tiny(cgan.get_config("digits_mlp"))
  g_loss_fn, d_loss_fn = base.build_losses(c)
  state = train.create_state(c, jax.random.key(0))
  batch = _labelled_batch(c)
  fast, _ = jax.jit(train.build_step(c))(state, batch, jax.random.key(3))

  def reference(state, batch, rng):
    key = jax.random.split(jax.random.fold_in(rng, state.step), 1)[0]
    input_key, _, _ = jax.random.split(key, 3)
    z_key, y_key = jax.random.split(input_key)
    z = steps.sample_latent(z_key, c.batch_size, c.latent_dim)
    y = base.sample_labels(y_key, c.batch_size, c.num_classes)
    g, d = state.generator, state.discriminator

    def d_loss(p):
      fake, _ = steps.generate(g, g.params, z, labels=y)
      real_logits, _ = steps.apply_train(d, p, batch["image"][0], labels=batch["label"][0])
      fake_logits, _ = steps.apply_train(d, p, fake, labels=y)
      return d_loss_fn(real_logits, fake_logits)

    d = d.apply_gradients(grads=jax.grad(d_loss)(d.params))

    def g_loss(p):
      fake, _ = steps.generate(g, p, z, labels=y)
      return g_loss_fn(steps.apply_train(d, d.params, fake, labels=y)[0])

    g = g.apply_gradients(grads=jax.grad(g_loss)(g.params))
    return state.replace(step=state.step + 1, generator=g, discriminator=d)

  ref = jax.jit(reference)(state, batch, jax.random.key(3))
  assert _max_diff(fast.generator.params, ref.generator.params) < 1e-6
  assert _max_diff(fast.discriminator.params, ref.discriminator.params) < 1e-6


SHARDED = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np
    jax.config.update("jax_disable_most_optimizations", True)
    sys.path.insert(0, {root!r})
    from ganjax import parallel, train
    from experiments.configs import acgan, cgan, sgan
    assert len(jax.devices()) == 4
    rng = np.random.default_rng(0)

    def tiny(c):
      c.width, c.hidden, c.latent_dim, c.batch_size, c.labeled_batch_size = 4, (16,), 8, 8, 4
      return c

    def batches(c):
      out = []
      for _ in range(2):
        b = {{"image": rng.uniform(-1, 1, (1, 8, c.resolution, c.resolution, 1)).astype(np.float32)}}
        if c.family == "sgan":
          b["labeled_image"] = rng.uniform(-1, 1, (1, 4, c.resolution, c.resolution, 1)).astype(np.float32)
          b["labeled_label"] = rng.integers(0, 10, (1, 4)).astype(np.int32)
        else:
          b["label"] = rng.integers(0, 10, (1, 8)).astype(np.int32)
        out.append(b)
      return out

    def run(c, data, devices):
      mesh = parallel.make_mesh(devices)
      repl = parallel.replicated(mesh)
      state = jax.device_put(train.create_state(c, jax.random.key(0)), repl)
      step = jax.jit(train.build_step(c), in_shardings=(repl, parallel.batch_sharding(mesh, 1), repl),
                     out_shardings=(repl, repl), donate_argnums=0)
      for b in data:
        placed = parallel.put_batch(b, mesh, 1)
        assert all(len(x.sharding.device_set) == len(devices) for x in jax.tree.leaves(placed))
        state, m = step(state, placed, jax.random.key(1))
      return jax.device_get(state)

    sgan_ns = tiny(sgan.get_config("digits"))
    sgan_ns.sgan_generator_loss = "non_saturating"
    for c in (tiny(cgan.get_config("digits_mlp")), sgan_ns):
      data = batches(c)
      one, four = run(c, data, jax.devices()[:1]), run(c, data, jax.devices())
      diffs = [float(np.max(np.abs(a - b))) for a, b in
               zip(jax.tree.leaves((one.generator, one.discriminator)),
                   jax.tree.leaves((four.generator, four.discriminator)))]
      print("MAXDIFF", c.family, max(diffs))
      assert max(diffs) < 1e-4, (c.family, max(diffs))
""")


def test_four_devices_train_the_same_params_as_one_with_labels():
  """Labels (cgan) and the labelled stream (sgan) shard over the batch axis like images."""
  out = subprocess.run([sys.executable, "-c", SHARDED.format(root=ROOT)], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.count("MAXDIFF") == 2


# ----------------------------------------------------------------------------- labelled split


def test_labeled_subset_is_exact_balanced_and_deterministic(data_dir):
  kwargs = dict(split="train", num_labeled=30, num_classes=10, resolution=8, channels=1,
                data_dir=data_dir)
  images, labels = labeled_subset.labeled_subset("digits", seed=0, **kwargs)
  assert images.shape == (30, 8, 8, 1) and labels.shape == (30,)
  assert np.bincount(labels, minlength=10).tolist() == [3] * 10
  again_images, again_labels = labeled_subset.labeled_subset("digits", seed=0, **kwargs)
  np.testing.assert_array_equal(images, again_images)
  np.testing.assert_array_equal(labels, again_labels)
  other, _ = labeled_subset.labeled_subset("digits", seed=1, **kwargs)
  assert not np.array_equal(images, other)
  # The labels are the images' own: each labelled image occurs in the split with its label.
  c = tiny(sgan.get_config(), data_dir)
  full_x, full_y = data.load_split(c.dataset, "train", resolution=c.resolution,
                                   channels=c.channels, data_dir=c.data_dir)
  for x, y in zip(images[:5], labels[:5]):
    match = np.flatnonzero(np.abs(full_x - x).reshape(len(full_x), -1).max(1) == 0)
    assert match.size and set(full_y[match]) == {y}
  with pytest.raises(ValueError, match="multiple of num_classes"):
    labeled_subset.labeled_subset("digits", seed=0, **{**kwargs, "num_labeled": 25})
  with pytest.raises(ValueError, match="only"):
    labeled_subset.labeled_subset("digits", seed=0, **{**kwargs, "num_labeled": 10_000})


def test_labeled_batches_cycle_through_every_example_deterministically():
  images, labels = np.arange(6, dtype=np.float32)[:, None] * 10, np.arange(6, dtype=np.int32)
  stream = labeled_subset.labeled_batches(images, labels, batch_size=4, seed=(0, 1))
  first = [next(stream) for _ in range(3)]  # 12 examples = 2 epochs of 6.
  seen = np.concatenate([b["labeled_label"] for b in first])
  assert sorted(seen[:6]) == list(range(6)) and sorted(seen[6:]) == list(range(6))
  for b in first:
    np.testing.assert_array_equal(b["labeled_image"][:, 0], b["labeled_label"] * 10)
  again = labeled_subset.labeled_batches(images, labels, batch_size=4, seed=(0, 1))
  assert all(np.array_equal(next(again)["labeled_label"], b["labeled_label"]) for b in first)


def test_input_batches_carry_labels_for_cgan_and_only_the_labelled_few_for_sgan(data_dir):
  c = tiny(cgan.get_config("digits_mlp"), data_dir, d_steps=2)
  b = next(train.input_batches(c, local_batch_size=8))
  assert set(b) == {"image", "label"}
  assert b["image"].shape == (2, 8, 8, 8, 1) and b["label"].shape == (2, 8)
  assert b["label"].dtype == np.int32 and 0 <= b["label"].min() and b["label"].max() < 10

  c = tiny(sgan.get_config("digits"), data_dir, d_steps=2, num_labeled=20)
  it = train.input_batches(c, local_batch_size=8)
  first, second = next(it), next(it)
  # No label on the unlabelled stream: the step cannot use more than num_labeled labels.
  assert set(first) == {"image", "labeled_image", "labeled_label"}
  assert first["image"].shape == (2, 8, 8, 8, 1)
  assert first["labeled_image"].shape == (2, 4, 8, 8, 1)
  assert first["labeled_label"].shape == (2, 4)
  subset_x, subset_y = labeled_subset.labeled_subset(
      "digits", split="train", num_labeled=20, num_classes=10, resolution=8, channels=1,
      data_dir=data_dir)
  for x, y in zip(first["labeled_image"].reshape(-1, 8, 8, 1), first["labeled_label"].ravel()):
    i = np.flatnonzero(np.abs(subset_x - x).reshape(20, -1).max(1) == 0)
    assert i.size and subset_y[i[0]] == y
  # A resumed run (skip=1) sees the batches an uninterrupted one would, labelled ones included.
  resumed = next(train.input_batches(c, local_batch_size=8, skip=1))
  for k in second:
    np.testing.assert_array_equal(resumed[k], second[k])


# ----------------------------------------------------------------------------- grid, evaluation


def test_class_grid_rows_are_classes_and_columns_share_z():
  z, labels = cgan_family.class_grid_inputs(jax.random.key(0), num_classes=3, num_columns=4,
                                            latent_dim=5)
  assert z.shape == (12, 5) and labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
  grid_z = np.asarray(z).reshape(3, 4, 5)
  np.testing.assert_array_equal(grid_z[0], grid_z[2])  # Same z down a column.
  assert len({tuple(np.round(v, 6)) for v in grid_z[0]}) == 4  # Another z per column.
  c = cgan.get_config()
  assert cgan_family.grid_columns(c) == 10 and c.num_sample_images == 100


def test_sampler_labels_default_to_classes_in_turn():
  c = tiny(cgan.get_config("digits_mlp"))
  state = train.create_state(c, jax.random.key(0))
  sample = train.make_sampler(c)
  z = jnp.tile(jax.random.normal(jax.random.key(1), (1, c.latent_dim)), (12, 1))
  default = sample(state, z)
  explicit = sample(state, z, jnp.arange(12) % 10)
  np.testing.assert_allclose(default, explicit, atol=1e-6)
  np.testing.assert_allclose(default[0], default[10], atol=1e-6)  # Class 0 twice, same z.
  images, labels = evaluate.generate(c, state, 30, labels=np.repeat(np.arange(10), 3),
                                     batch_size=7)
  assert images.shape == (30, 8, 8, 1) and labels.tolist() == sorted(list(range(10)) * 3)


def test_conditional_accuracy_counts_argmax_hits():
  logits = np.array([[3.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 5.0]])
  assert cgan_family.conditional_accuracy(logits, [0, 1, 1, 1]) == 0.75
  with pytest.raises(ValueError, match="labels"):
    cgan_family.conditional_accuracy(logits, [0, 1])


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory, data_dir):
  """A tiny MLP cGAN trained 2 steps on digits (8x8)."""
  workdir = str(tmp_path_factory.mktemp("cgan"))
  state = train.train_and_evaluate(tiny(cgan.get_config("digits_mlp"), data_dir), workdir)
  assert int(state.step) == 2
  return workdir


@pytest.fixture(scope="module")
def sgan_run(tmp_path_factory, data_dir):
  """A tiny semi-supervised GAN trained 2 steps on digits with 20 labels."""
  workdir = str(tmp_path_factory.mktemp("sgan"))
  state = train.train_and_evaluate(tiny(sgan.get_config("digits"), data_dir, num_labeled=20),
                                   workdir)
  assert int(state.step) == 2
  return workdir


def test_cgan_run_writes_a_class_grid(cgan_run):
  from PIL import Image
  png = Image.open(os.path.join(cgan_run, "samples", "step_000002.png"))
  # 10 rows (classes) x 2 columns (20 images) of 8x8 cells with 1-pixel padding, enlarged.
  rows, cols = 10 * 9 + 1, 2 * 9 + 1
  scale = png.size[1] // rows
  assert png.size == (cols * scale, rows * scale)
  config, restored = load_trained(cgan_run)
  assert config.family == "cgan" and int(restored.step) == 2


def test_sgan_run_logs_its_losses(sgan_run):
  rows = [json.loads(l) for l in open(os.path.join(sgan_run, "metrics.jsonl"))]
  assert {"d_supervised_loss", "d_unsupervised_loss", "d_labeled_accuracy"} <= set(rows[-1])


def test_evaluate_adds_the_conditional_metrics(cgan_run, sgan_run, tmp_path, data_dir):
  from ganjax import classifier
  quiet = lambda *args: None
  clf_dir = str(tmp_path / "classifier")  # A barely trained classifier: only the plumbing.
  classifier.get_classifier("digits", resolution=8, channels=1, data_dir=data_dir,
                            directory=clf_dir, num_steps=2, log=quiet)
  options = evaluate.Options(num_samples=20, classifier_dir=clf_dir, log=quiet)
  only = [evaluate.Section("conditional", cgan_family.conditional_accuracy_section)]
  result = evaluate.evaluate(cgan_run, options, sections=only)
  assert 0 <= result["conditional_accuracy"] <= 1
  only = [evaluate.Section("conditional", sgan_family.semi_supervised_section)]
  result = evaluate.evaluate(sgan_run, options, sections=only)
  assert 0 <= result["classification_accuracy"] <= 1
  assert 0 <= result["supervised_baseline_accuracy"] <= 1
  saved = json.load(open(os.path.join(sgan_run, "eval.json")))
  assert saved["classification_accuracy"] == result["classification_accuracy"]


def test_supervised_baseline_is_deterministic_and_learns(data_dir):
  c = tiny(sgan.get_config("digits"), data_dir, num_labeled=20, labeled_batch_size=20)
  c.optimizer.d_learning_rate = 1e-2
  images, labels = labeled_subset.labeled_subset(
      "digits", split="train", num_labeled=20, num_classes=10, resolution=8, channels=1,
      data_dir=data_dir)
  a = sgan_family.supervised_baseline_accuracy(c, images, labels, num_updates=30)
  b = sgan_family.supervised_baseline_accuracy(c, images, labels, num_updates=30)
  assert a == b and a >= 0.5  # Fits (noisily) its own 20 training examples.


def test_sgan_mnist_variant_trains_a_step_on_mock_data(tmp_path):
  """The TFDS path: mock MNIST, 10 labelled examples picked from it, one step."""
  c = tiny(sgan.get_config("mnist"), str(tmp_path / "tfds"), num_steps=1, num_labeled=10)
  with tfds.testing.mock_data(num_examples=64):
    state = train.train_and_evaluate(c, str(tmp_path / "work"))
  assert int(state.step) == 1


def _cli(*args, timeout=300, **env):
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="true", JAX_PLATFORMS="cpu", **env)
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def test_entry_point_trains_a_step_on_digits(tmp_path, data_dir):
  """The command line of one family (cgan and sgan train in-process above)."""
  name, variant = "acgan", "digits_mlp"
  out = _cli(f"experiments.{name}", f"--config=experiments/configs/{name}.py:{variant}",
             f"--workdir={tmp_path}", f"--config.data_dir={data_dir}", "--config.num_steps=1",
             "--config.hidden=(16,)", "--config.batch_size=8", "--config.latent_dim=8",
             "--config.num_sample_images=10")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "step 1/1" in out.stderr
  assert os.path.exists(tmp_path / "samples" / "step_000001.png")


def test_entry_point_rejects_a_labeled_batch_size_that_does_not_divide_over_the_devices(
    tmp_path):
  """One line and exit status 2, on two devices, before any data is read or compiled."""
  out = _cli("experiments.sgan", f"--workdir={tmp_path}", "--config.labeled_batch_size=3",
             timeout=120, XLA_FLAGS="--xla_force_host_platform_device_count=2")
  assert out.returncode == 2, out.stderr[-2000:]
  assert "Traceback" not in out.stderr
  assert out.stderr.strip().splitlines()[-1] == (
      "error: labeled_batch_size 3 does not divide over the 2 devices: "
      "set labeled_batch_size to a multiple of 2 (e.g. 4)")

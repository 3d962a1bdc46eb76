"""DiffAugment: the reference's transforms, pure and differentiable, and the gan family's switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import augment, losses, steps, train
from ganjax.config import ConfigError, base_config
from ganjax.families import base, gan as gan_family
from experiments.configs import gan
from conftest import shrink

KEY = jax.random.key(7)
ALL = "color,translation,cutout"


def _images(shape=(16, 16, 8, 3), seed=0):
  return jax.random.uniform(jax.random.key(seed), shape, jnp.float32, -1.0, 1.0)


def _max_diff(a, b):
  return max(float(jnp.max(jnp.abs(x - y))) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# ----------------------------------------------------------------------------- the transforms


def test_the_empty_policy_is_the_identity_and_others_keep_shape_and_dtype():
  x = _images()
  assert augment.diff_augment(KEY, x, "") is x
  for policy in augment.POLICIES + (ALL,):
    for dtype in (jnp.float32, jnp.bfloat16):
      y = augment.diff_augment(KEY, x.astype(dtype), policy)
      assert y.shape == x.shape and y.dtype == dtype, policy
      assert float(jnp.max(jnp.abs(y.astype(jnp.float32) - x))) > 0.1, policy


def test_translation_shifts_each_image_by_integers_within_an_eighth_and_fills_zeros():
  b, h, w = 32, 16, 8
  x = jnp.broadcast_to(jnp.arange(1.0, h * w + 1).reshape(1, h, w, 1), (b, h, w, 1))
  y = np.asarray(augment.diff_augment(KEY, x, "translation"))
  rows, cols = np.mgrid[:h, :w]
  shifts = set()
  for out in y[..., 0]:
    nonzero = out != 0
    source = out[nonzero].astype(int) - 1  # Every value names the pixel it came from.
    dy, dx = source // w - rows[nonzero], source % w - cols[nonzero]
    assert len(set(dy)) == len(set(dx)) == 1
    dy, dx = int(dy[0]), int(dx[0])
    assert abs(dy) <= h // 8 and abs(dx) <= w // 8
    inside = (rows + dy >= 0) & (rows + dy < h) & (cols + dx >= 0) & (cols + dx < w)
    np.testing.assert_array_equal(nonzero, inside)  # Zeros exactly where nothing came in.
    shifts.add((dy, dx))
  assert len(shifts) > 3  # Per image, not one shift for the batch.


def test_cutout_zeroes_one_half_side_rectangle_per_image_clipped_at_the_borders():
  b, h, w = 64, 16, 8
  y = np.asarray(augment.diff_augment(KEY, jnp.ones((b, h, w, 2)), "cutout"))
  assert set(np.unique(y)) <= {0.0, 1.0}
  np.testing.assert_array_equal(y[..., 0], y[..., 1])  # Every channel alike.
  clipped = 0
  for out in y[..., 0]:
    rows, cols = np.flatnonzero((out == 0).any(1)), np.flatnonzero((out == 0).any(0))
    expected = np.ones((h, w))
    expected[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = 0
    np.testing.assert_array_equal(out, expected)  # One solid rectangle,
    for found, side, size in ((rows, h, h // 2), (cols, w, w // 2)):
      assert np.array_equal(found, np.arange(found[0], found[-1] + 1))
      # ... of half the side, or less where it touches a border (its centre stays inside).
      assert len(found) == size or (len(found) >= size // 2 and (found[0] == 0 or
                                                                 found[-1] == side - 1))
      clipped += len(found) < size
  assert clipped > 0


def test_colour_shifts_brightness_and_scales_saturation_and_contrast_per_image():
  x = _images()
  brighter = augment.random_brightness(KEY, x) - x
  offsets = brighter[:, 0, 0, 0]
  np.testing.assert_allclose(brighter, jnp.broadcast_to(offsets[:, None, None, None], x.shape),
                             atol=1e-6)
  assert float(jnp.max(jnp.abs(offsets))) <= 0.5 and float(jnp.std(offsets)) > 0.05
  # Saturation scales each pixel's deviation from its channel mean: a gray image stays gray.
  gray = jnp.repeat(x[..., :1], 3, axis=-1)
  np.testing.assert_allclose(augment.random_saturation(KEY, gray), gray, atol=1e-6)
  saturated = augment.random_saturation(KEY, x)
  np.testing.assert_allclose(saturated.mean(-1), x.mean(-1), atol=1e-6)
  assert _max_diff(saturated, x) > 0.1
  # Contrast scales the deviations from the image's mean by c in [0.5, 1.5].
  contrasted = augment.random_contrast(KEY, x)
  mean = x.mean((1, 2, 3), keepdims=True)
  np.testing.assert_allclose(contrasted.mean((1, 2, 3)), mean[:, 0, 0, 0], atol=1e-6)
  scale = (contrasted - mean)[:, 0, 0, 0] / (x - mean)[:, 0, 0, 0]
  assert float(scale.min()) >= 0.5 and float(scale.max()) <= 1.5
  # So under "color" an image's mean moves by its brightness offset alone, in [-0.5, 0.5].
  moved = (augment.diff_augment(KEY, x, "color") - x).mean((1, 2, 3))
  assert float(jnp.max(jnp.abs(moved))) <= 0.5 + 1e-6 and float(jnp.std(moved)) > 0.05


def test_a_key_fixes_the_draws_under_jit_and_vmap_and_other_keys_draw_others():
  x = _images()
  fn = jax.jit(augment.diff_augment, static_argnums=2)
  a = fn(KEY, x, ALL)
  assert _max_diff(a, augment.diff_augment(KEY, x, ALL)) < 1e-6
  assert _max_diff(a, fn(KEY, x, ALL)) == 0
  assert _max_diff(a, fn(jax.random.key(8), x, ALL)) > 0.1
  keys = jax.random.split(KEY, 2)
  both = jax.vmap(lambda k: augment.diff_augment(k, x, ALL))(keys)
  assert _max_diff(both[1], fn(keys[1], x, ALL)) < 1e-6


def test_gradients_flow_through_the_transforms_and_not_into_cut_out_pixels():
  x, weights = _images(), _images(seed=1)

  def grad(policy):
    return jax.grad(lambda v: jnp.sum(weights * augment.diff_augment(KEY, v, policy)))(x)

  for policy in ("color", "translation"):
    g = grad(policy)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.mean(g != 0)) > 0.5, policy
    assert _max_diff(g, weights) > 0.1, policy  # Not the identity's gradient.
  cut = augment.diff_augment(KEY, jnp.ones_like(x), "cutout") == 0
  np.testing.assert_array_equal(grad("cutout"), jnp.where(cut, 0.0, weights))


def test_a_bad_policy_is_one_line_naming_its_bad_parts():
  with pytest.raises(ValueError, match=r"^unknown DiffAugment policy part\(s\) 'colour', "
                     r"'zoom' in .*; valid: comma-separated color, translation, cutout$"):
    augment.diff_augment(KEY, _images(), "colour,translation,zoom")
  assert augment.check_policy(" color, cutout ") == ("color", "cutout")
  with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
    augment.diff_augment(KEY, jnp.zeros((4, 8)), "color")
  c = shrink(gan.get_config(), diff_augment="color,flip")
  with pytest.raises(ConfigError) as e:
    train.check_config(c)
  assert "\n" not in str(e.value) and "'flip'" in str(e.value)
  with pytest.raises(ConfigError, match=r"^diff_augment transforms images .*\(2,\)$"):
    train.check_config(shrink(base_config("mixture"), diff_augment="cutout"))  # Points.


# ----------------------------------------------------------------------------- the gan family


def _batch(c):
  shape = (c.d_steps, c.batch_size, c.resolution, c.resolution, c.channels)
  return {"image": jnp.asarray(np.random.default_rng(0).uniform(-1, 1, shape), jnp.float32)}


def test_the_empty_policy_trains_bit_identically_to_the_plain_step():
  c = shrink(gan.get_config(), diff_augment="")
  state, batch, rng = train.create_state(c, jax.random.key(0)), _batch(c), jax.random.key(1)
  g_loss_fn, d_loss_fn = base.build_losses(c)

  def plain(state, batch, rng):  # The step as it was before DiffAugment.
    return steps.alternate(state, batch, rng, generator_inputs=steps.latent_inputs(c.latent_dim),
                           d_loss=steps.adversarial_d_loss(d_loss_fn),
                           g_loss=steps.adversarial_g_loss(g_loss_fn))

  a, metrics_a = jax.jit(train.build_step(c))(state, batch, rng)
  b, metrics_b = jax.jit(plain)(state, batch, rng)
  assert _max_diff((a, metrics_a), (b, metrics_b)) == 0


def test_d_sees_augmented_reals_and_fakes_and_g_learns_through_the_augmentation():
  policy = "translation,cutout"
  c = shrink(gan.get_config(), diff_augment=policy)
  state, batch, rng = train.create_state(c, jax.random.key(0)), _batch(c), jax.random.key(1)
  step = jax.jit(train.build_step(c))
  new, metrics = step(state, batch, rng)
  again, _ = step(state, batch, rng)
  assert _max_diff(new, again) == 0  # Pure: a resumed run draws the same T.
  plain, _ = jax.jit(train.build_step(shrink(gan.get_config())))(state, batch, rng)
  assert _max_diff(new.generator.params, plain.generator.params) > 1e-6
  g_loss_fn, _ = base.build_losses(c)

  @jax.jit
  def reference(state):
    """Each image through its own draw of T: D's reals and fakes, and G's fakes."""
    input_key, d_key, g_key = jax.random.split(jax.random.split(jax.random.fold_in(rng, 0),
                                                                1)[0], 3)
    real_key, fake_key, _ = gan_family.augment_keys(d_key)
    g, d = state.generator, state.discriminator
    z = steps.sample_latent(input_key, c.batch_size, c.latent_dim)
    fake, _ = steps.generate(g, g.params, z)
    real_logits, _ = steps.apply_train(d, d.params, augment.diff_augment(
        real_key, batch["image"][0], policy))
    fake_logits, _ = steps.apply_train(d, d.params, augment.diff_augment(fake_key, fake, policy))
    d = new.discriminator  # D after its update, as G's update sees it.

    def g_loss(params):
      x, _ = steps.generate(g, params, z)
      x = augment.diff_augment(gan_family.augment_keys(g_key)[1], x, policy)
      return g_loss_fn(steps.apply_train(d, d.params, x)[0])

    value, grads = jax.value_and_grad(g_loss)(g.params)
    return real_logits.mean(), fake_logits.mean(), value, g.apply_gradients(grads=grads)

  real_logit, fake_logit, g_loss, g = reference(state)
  assert float(metrics["d_real_logit"]) == pytest.approx(float(real_logit), rel=1e-5)
  assert float(metrics["d_fake_logit"]) == pytest.approx(float(fake_logit), rel=1e-5)
  assert float(metrics["g_loss"]) == pytest.approx(float(g_loss), rel=1e-5)
  assert _max_diff(new.generator.params, g.params) < 1e-6


def test_r1_under_diffaugment_differentiates_d_of_t_at_the_plain_reals():
  policy = "color,translation,cutout"
  c = shrink(gan.get_config(), objective="r1", diff_augment=policy)
  state, batch, rng = train.create_state(c, jax.random.key(0)), _batch(c), jax.random.key(1)
  _, metrics = jax.jit(train.build_step(c))(state, batch, rng)
  d_key = jax.random.split(jax.random.split(jax.random.fold_in(rng, 0), 1)[0], 3)[1]
  real_key = gan_family.augment_keys(d_key)[0]  # The draw D's loss saw the reals through.
  d = state.discriminator
  critic = lambda v, x: d.apply_fn(v, augment.diff_augment(real_key, x, policy), train=False)
  expected = c.r1_gamma / 2 * losses.r1_penalty(critic, d.variables(), batch["image"][0])
  assert float(metrics["d_regularizer"]) == pytest.approx(float(expected), rel=1e-4)

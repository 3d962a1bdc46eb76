"""DiffAugment: random differentiable transforms of every image the discriminator sees.

    L_D = d_loss(D(T(x)), D(T'(G(z)))),    L_G = g_loss(D(T''(G(z))))

with T, T', T'' independent draws of the same random transforms, applied to real
and generated images alike in both losses; G's gradient flows back through T. D
cannot overfit a small dataset as easily, and never sees an augmentation G could
learn to reproduce, since the fakes are augmented too. Zhao, Liu, Lin, Zhu & Han
2020, "Differentiable Augmentation for Data-Efficient GAN Training",
https://arxiv.org/abs/2006.10738 (the reference code, mit-han-lab/data-efficient-gans,
defines the transforms below).

Images are (B, H, W, C) in [-1, 1]; every draw is per image. A policy is a
comma-separated subset of POLICIES, applied in its order; "" is the identity:

- color: brightness x + b, b ~ U(-0.5, 0.5); saturation (x - m_c) s + m_c,
  s ~ U(0, 2), m_c the pixel's mean over channels; contrast (x - m) c + m,
  c ~ U(0.5, 1.5), m the image's mean.
- translation: an integer shift of up to round(side / 8) pixels on each axis,
  zeros shifted in.
- cutout: a square of round(side / 2) pixels at a random centre set to zero,
  clipped where it leaves the image.

Every function is pure (the same key, the same images), branch-free on values, and
works under jit, vmap and grad.
"""

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125  # The largest shift, as a fraction of the side.
CUTOUT_RATIO = 0.5         # The cut-out square's side, as a fraction of the image's.


def _uniform(key, images, low: float, high: float) -> jax.Array:
  """One U(low, high) per image, (B, 1, 1, 1) in the images' dtype (drawn in float32)."""
  u = jax.random.uniform(key, (images.shape[0], 1, 1, 1), jnp.float32, low, high)
  return u.astype(images.dtype)


def random_brightness(key, images) -> jax.Array:
  """x + b, b ~ U(-0.5, 0.5) per image."""
  return images + _uniform(key, images, -0.5, 0.5)


def random_saturation(key, images) -> jax.Array:
  """(x - m_c) s + m_c, s ~ U(0, 2) per image, m_c each pixel's mean over channels."""
  mean = jnp.mean(images, axis=-1, keepdims=True)
  return (images - mean) * _uniform(key, images, 0.0, 2.0) + mean


def random_contrast(key, images) -> jax.Array:
  """(x - m) c + m, c ~ U(0.5, 1.5) per image, m the image's mean."""
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * _uniform(key, images, 0.5, 1.5) + mean


def _fraction(side: int, ratio: float) -> int:
  """round(side * ratio), halves up, as the reference rounds."""
  return int(side * ratio + 0.5)


def random_translation(key, images, *, ratio: float = TRANSLATION_RATIO) -> jax.Array:
  """out[i, j] = x[i + dy, j + dx] (zero outside x), dy, dx integers in [-s, s] per image.

  s = round(ratio * side) on each axis. The image is padded by s with zeros and an
  (H, W) window cropped from it per image: one gather, no loop over the batch.
  """
  batch, height, width, _ = images.shape
  sy, sx = _fraction(height, ratio), _fraction(width, ratio)
  key_y, key_x = jax.random.split(key)
  dy = jax.random.randint(key_y, (batch,), -sy, sy + 1)
  dx = jax.random.randint(key_x, (batch,), -sx, sx + 1)
  padded = jnp.pad(images, ((0, 0), (sy, sy), (sx, sx), (0, 0)))

  def crop(image, y, x):
    return jax.lax.dynamic_slice(image, (sy + y, sx + x, 0), images.shape[1:])

  return jax.vmap(crop)(padded, dy, dx)


def random_cutout(key, images, *, ratio: float = CUTOUT_RATIO) -> jax.Array:
  """x with a (h, w) rectangle of zeros per image, h, w = round(ratio * side).

  Its centre c is uniform on [0, side] (an even size) or [0, side - 1] (odd); the
  rectangle covers [c - h // 2, c - h // 2 + h) on each axis, clipped to the image,
  as the reference draws it. Cut-out pixels get no gradient.
  """
  batch, height, width, _ = images.shape
  h, w = _fraction(height, ratio), _fraction(width, ratio)
  key_y, key_x = jax.random.split(key)
  top = jax.random.randint(key_y, (batch, 1, 1, 1), 0, height + 1 - h % 2) - h // 2
  left = jax.random.randint(key_x, (batch, 1, 1, 1), 0, width + 1 - w % 2) - w // 2
  rows = jnp.arange(height)[None, :, None, None]
  cols = jnp.arange(width)[None, None, :, None]
  cut = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
  return jnp.where(cut, jnp.zeros((), images.dtype), images)


_TRANSFORMS = {
    "color": (random_brightness, random_saturation, random_contrast),
    "translation": (random_translation,),
    "cutout": (random_cutout,),
}


def check_policy(policy: str) -> tuple[str, ...]:
  """The policy's parts, in order; ValueError naming the parts that are not in POLICIES."""
  if not isinstance(policy, str):
    raise ValueError(f"a DiffAugment policy is a string, got {type(policy).__name__}")
  if not policy.strip():
    return ()
  parts = tuple(part.strip() for part in policy.split(","))
  bad = [part for part in parts if part not in POLICIES]
  if bad:
    raise ValueError(f"unknown DiffAugment policy part(s) {', '.join(map(repr, bad))} in "
                     f"{policy!r}; valid: comma-separated {', '.join(POLICIES)}")
  return parts


def diff_augment(key, images, policy: str) -> jax.Array:
  """T(images): the policy's random transforms, in its order, each with its own key.

  Args:
    key: a PRNG key; the same key, the same transforms.
    images: (B, H, W, C), floating, in [-1, 1].
    policy: a comma-separated subset of POLICIES ("color,translation,cutout", the
      paper's choice for small datasets); "" returns `images` itself.

  Returns:
    The augmented images, of the shape and dtype of `images`.

  Raises:
    ValueError: a policy part not in POLICIES, or images that are not (B, H, W, C).
    TypeError: images that are not floating.
  """
  parts = check_policy(policy)
  if not parts:
    return images
  if jnp.ndim(images) != 4:
    raise ValueError(f"DiffAugment takes images (B, H, W, C), got shape {jnp.shape(images)}")
  if not jnp.issubdtype(jnp.result_type(images), jnp.floating):
    raise TypeError(f"DiffAugment takes floating images, got {jnp.result_type(images)}")
  transforms = [fn for part in parts for fn in _TRANSFORMS[part]]
  for fn, fn_key in zip(transforms, jax.random.split(key, len(transforms))):
    images = fn(fn_key, images)
  return images

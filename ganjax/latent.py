"""The latent space of a trained generator: interpolation, vector arithmetic, inversion.

    z = latent.interpolate(z0, z1, num=8, method='spherical')    # (8, latent_dim)
    z = latent.combine([z_smiling, z_neutral, z_man], [1, -1, 1])  # mean per group, a - b + c
    result = latent.invert(generate, targets, key)               # z with G(z) closest to targets
    result.psnr, result.random_psnr                              # per image, dB

Everything here takes a generator as a function `generate(z) -> images` (e.g.
`functools.partial(sampler, state)` from ganjax.train.make_sampler), so it works for any
family; a class-conditional generator is bound to its labels first.

PSNR is over images in [-1, 1] with peak-to-peak range 2: PSNR = 10 log10(2^2 / MSE), the
same as over [0, 1] images with peak 1.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganjax.pixel_metrics import psnr  # noqa: F401  (per image; also ganjax.latent.psnr)


METHODS = ("linear", "spherical")


class LatentError(ValueError):
  """A latent-tool request that cannot be met (a bad expression, an empty group)."""


# --------------------------------------------------------------------------- interpolation


def lerp(z0, z1, t):
  """Linear interpolation (1 - t) z0 + t z1; t broadcasts against the leading axes."""
  t = jnp.asarray(t, jnp.float32)[..., None]
  return (1.0 - t) * z0 + t * z1


def slerp(z0, z1, t, *, eps: float = 1e-7):
  """Spherical linear interpolation along the great circle from z0 to z1.

  slerp(z0, z1; t) = sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1, with w the angle between z0
  and z1. For Gaussian z it keeps samples at the typical norm sqrt(d) that linear
  interpolation leaves (its midpoints have norm about sqrt(d/2)); between two vectors of the
  same norm r every point has norm r. Falls back to lerp where w is ~0.

  Reference: Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985; White,
  "Sampling Generative Networks", 2016.
  """
  z0, z1 = jnp.asarray(z0, jnp.float32), jnp.asarray(z1, jnp.float32)
  t = jnp.asarray(t, jnp.float32)[..., None]
  n0 = jnp.linalg.norm(z0, axis=-1, keepdims=True)
  n1 = jnp.linalg.norm(z1, axis=-1, keepdims=True)
  cos = jnp.sum(z0 * z1, axis=-1, keepdims=True) / jnp.maximum(n0 * n1, eps)
  omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
  sin = jnp.sin(omega)
  small = sin < 1e-4
  safe_sin = jnp.where(small, 1.0, sin)
  a = jnp.where(small, 1.0 - t, jnp.sin((1.0 - t) * omega) / safe_sin)
  b = jnp.where(small, t, jnp.sin(t * omega) / safe_sin)
  return a * z0 + b * z1


def interpolate(z0, z1, *, num: int, method: str = "spherical"):
  """`num` points from z0 to z1 inclusive, shape (num, d) (or (num, ..., d) for batches)."""
  if method not in METHODS:
    raise ValueError(f"unknown interpolation {method!r}; valid: {', '.join(METHODS)}")
  if num < 2:
    raise ValueError(f"num must be >= 2 to include both endpoints, got {num}")
  z0, z1 = jnp.asarray(z0, jnp.float32), jnp.asarray(z1, jnp.float32)
  if z0.shape != z1.shape:
    raise ValueError(f"z0 and z1 must have the same shape, got {z0.shape} and {z1.shape}")
  t = jnp.linspace(0.0, 1.0, num).reshape((num,) + (1,) * (z0.ndim - 1))
  fn = slerp if method == "spherical" else lerp
  return fn(z0[None], z1[None], t)


def interpolation_grid(key, *, num_rows: int, num_steps: int, latent_dim: int,
                       method: str = "spherical"):
  """z of shape (num_rows * num_steps, d): each row interpolates between two random z."""
  k0, k1 = jax.random.split(key)
  z0 = jax.random.normal(k0, (num_rows, latent_dim))
  z1 = jax.random.normal(k1, (num_rows, latent_dim))
  path = interpolate(z0, z1, num=num_steps, method=method)  # (steps, rows, d)
  return jnp.swapaxes(path, 0, 1).reshape(num_rows * num_steps, latent_dim)


# --------------------------------------------------------------------------- arithmetic


def combine(groups: Sequence, coefficients: Sequence[float]):
  """sum_i c_i mean(group_i): the latent vector arithmetic of Radford et al. (2016).

  Args:
    groups: sequence of (n_i, d) arrays of z, one per concept (averaging a few z per concept
      makes the result stable, as the DCGAN paper found for single samples).
    coefficients: one weight per group, e.g. (1, -1, 1) for a - b + c.

  Returns:
    (d,) the combined z.

  Reference: Radford et al., "Unsupervised Representation Learning with Deep Convolutional
  Generative Adversarial Networks", ICLR 2016, section 6.3.
  """
  if len(groups) != len(coefficients) or not groups:
    raise ValueError(f"need one coefficient per group, got {len(groups)} groups and "
                     f"{len(coefficients)} coefficients")
  means = []
  for i, g in enumerate(groups):
    g = jnp.asarray(g, jnp.float32)
    if g.ndim != 2 or g.shape[0] == 0:
      raise ValueError(f"group {i} must be a non-empty (n, d) array of z, got {g.shape}")
    means.append(g.mean(axis=0))
  if len({m.shape for m in means}) != 1:
    raise ValueError(f"groups have different latent sizes: {[m.shape for m in means]}")
  return sum(c * m for c, m in zip(coefficients, means))


def group_by(z, keys, wanted: Sequence) -> list:
  """[z[keys == w] for w in wanted]: e.g. the z of generated samples grouped by class."""
  z, keys = np.asarray(z), np.asarray(keys)
  groups = [z[keys == w] for w in wanted]
  empty = [w for w, g in zip(wanted, groups) if len(g) == 0]
  if empty:
    raise ValueError(f"no sample in group(s) {empty}")
  return groups


# --------------------------------------------------------------------------- inversion


@dataclasses.dataclass
class Inversion:
  """Result of `invert`: numpy arrays, one row per target image."""

  z: np.ndarray              # (N, d) the optimised z
  images: np.ndarray         # (N, H, W, C) G(z)
  psnr: np.ndarray           # (N,) PSNR of G(z) vs the target
  random_z: np.ndarray       # (N, d) the best of `num_random` random z (the starting point)
  random_images: np.ndarray  # (N, H, W, C)
  random_psnr: np.ndarray    # (N,)


def best_random_latents(generate: Callable, targets, key, *, num_random: int,
                        latent_dim: int):
  """For each target, the best (lowest L2) of its own `num_random` draws of z ~ N(0, I).

  `generate` maps (N, d) z to N images aligned with the targets (so a class-conditional
  generator can be bound to the targets' labels); one generator pass per draw.
  Returns (z (N, d), mean squared error per image (N,)).
  """
  targets = jnp.asarray(targets, jnp.float32)
  n = targets.shape[0]

  def body(carry, k):
    best_z, best_err = carry
    z = jax.random.normal(k, (n, latent_dim))
    err = jnp.mean((generate(z) - targets) ** 2, axis=tuple(range(1, targets.ndim)))
    better = err < best_err
    return (jnp.where(better[:, None], z, best_z), jnp.where(better, err, best_err)), None

  init = (jnp.zeros((n, latent_dim)), jnp.full((n,), jnp.inf))
  (z, err), _ = jax.lax.scan(body, init, jax.random.split(key, num_random))
  return z, err


def invert(generate: Callable, targets, key, *, latent_dim: int, num_steps: int = 300,
           learning_rate: float = 0.05, num_random: int = 256, prior_weight: float = 0.0):
  """Finds z with G(z) closest (L2) to each target, by Adam on z with G fixed.

  Batched: all targets are optimised together, each through its own z (the loss is a sum of
  per-image losses, so the z do not interact). Starts from the best of `num_random` random z,
  which is also the baseline the result is compared with: the gain of inversion over random
  search on held-out images measures how much of the data the generator can produce beyond
  what it was trained on.

      z* = argmin_z ||G(z) - x||^2 / num_pixels + prior_weight ||z||^2 / d

  Args:
    generate: fn(z (N, d)) -> images (N, H, W, C), the generator in inference mode; row i
      of z is target i's (a class-conditional generator is bound to the targets' labels).
    targets: (N, H, W, C) images in the generator's range ([-1, 1]).
    key: PRNG key for the random z.
    latent_dim: d.
    num_steps: Adam steps.
    learning_rate: Adam's step size.
    num_random: random z drawn per target for the starting point and the baseline (one
      generator pass over all targets per draw).
    prior_weight: weight of a Gaussian prior on z (0: plain L2 reconstruction).

  Returns:
    An `Inversion` of numpy arrays.

  Reference: Zhu et al., "Generative Visual Manipulation on the Natural Image Manifold",
  ECCV 2016; Creswell & Bharath, "Inverting the Generator of a Generative Adversarial
  Network", 2016.
  """
  targets = jnp.asarray(targets, jnp.float32)
  if targets.ndim != 4:
    raise ValueError(f"targets must be images (N, H, W, C), got shape {targets.shape}")
  if num_steps < 0 or num_random < 1:
    raise ValueError("num_steps must be >= 0 and num_random >= 1")
  z0, _ = jax.jit(best_random_latents, static_argnums=0,
                  static_argnames=("num_random", "latent_dim"))(
                      generate, targets, key, num_random=num_random, latent_dim=latent_dim)
  tx = optax.adam(learning_rate)

  def loss_fn(z):
    x = generate(z)
    per_image = jnp.mean((x - targets) ** 2, axis=(1, 2, 3))
    per_image += prior_weight * jnp.mean(z**2, axis=1)
    return jnp.sum(per_image)  # A sum: each z gets its own image's gradient.

  @jax.jit
  def optimise(z):
    def step(carry, _):
      z, opt_state = carry
      grads = jax.grad(loss_fn)(z)
      updates, opt_state = tx.update(grads, opt_state, z)
      return (optax.apply_updates(z, updates), opt_state), None

    (z, _), _ = jax.lax.scan(step, (z, tx.init(z)), None, length=num_steps)
    return z

  z = optimise(z0)
  images = generate(z)
  random_images = generate(z0)
  return Inversion(
      z=np.asarray(z), images=np.asarray(images), psnr=np.asarray(psnr(images, targets)),
      random_z=np.asarray(z0), random_images=np.asarray(random_images),
      random_psnr=np.asarray(psnr(random_images, targets)))


# --------------------------------------------------------------------------- a run's report


def parse_expression(text: str):
  """'7-1+4' -> [(+1, 7), (-1, 1), (+1, 4)]; '[0,1]-[2]+3' -> operands as index lists or ints.

  An integer operand names a class (z grouped by the domain classifier's prediction); a
  bracketed list names samples of the candidates grid by index.
  """
  import re
  text = text.replace(" ", "")
  tokens = re.findall(r"([+-]?)(\[[0-9,]+\]|[0-9]+)", text)
  if not tokens or "".join(sign + body for sign, body in tokens) != text:
    raise LatentError(f"cannot parse the arithmetic {text!r}: write e.g. 7-1+4 (classes) or "
                     f"[0,1,2]-[3,4]+[5] (sample indices)")
  terms = []
  for sign, body in tokens:
    coef = -1.0 if sign == "-" else 1.0
    operand = [int(i) for i in body[1:-1].split(",") if i] if body.startswith("[") else int(body)
    terms.append((coef, operand))
  return terms

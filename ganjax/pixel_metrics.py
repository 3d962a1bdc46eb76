"""How close images are to their targets, pixel by pixel: L1, PSNR and SSIM.

For paired tasks (pix2pix: the held-out target of every source is known) and
for inversion. Images are (N, H, W, C) in [-1, 1] (a range of width 2); every
function returns one value per image, as a numpy array.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

DATA_RANGE = 2.0  # [-1, 1]


def l1(a, b) -> np.ndarray:
  """Mean absolute difference per image."""
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  return np.mean(np.abs(a - b), axis=tuple(range(1, a.ndim)))


def psnr(a, b, *, data_range: float = DATA_RANGE):
  """Peak signal-to-noise ratio per image (dB): 10 log10(range^2 / MSE)."""
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  mse = jnp.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
  return 10.0 * jnp.log10(data_range**2 / jnp.maximum(mse, 1e-12))


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
  x = np.arange(size, dtype=np.float64) - (size - 1) / 2
  w = np.exp(-x**2 / (2 * sigma**2))
  return (w / w.sum()).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("window", "sigma", "data_range"))
def _ssim(a, b, *, window: int, sigma: float, data_range: float):
  g = jnp.asarray(_gaussian_window(window, sigma))

  def blur(x):  # Separable Gaussian over H then W, per channel, 'valid' borders.
    n, h, w, c = x.shape
    x = jnp.moveaxis(x, -1, 1).reshape(n * c, h, w, 1)
    x = jax.lax.conv_general_dilated(x, g.reshape(window, 1, 1, 1), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = jax.lax.conv_general_dilated(x, g.reshape(1, window, 1, 1), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return x

  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  mu_a, mu_b = blur(a), blur(b)
  var_a = blur(a * a) - mu_a**2
  var_b = blur(b * b) - mu_b**2
  cov = blur(a * b) - mu_a * mu_b
  s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
  n = a.shape[0]
  return jnp.mean(s.reshape(n, -1), axis=1)  # Channels fold into the mean, per image.


def ssim(a, b, *, window: int = 11, sigma: float = 1.5,
         data_range: float = DATA_RANGE) -> np.ndarray:
  """Structural similarity per image (Wang et al. 2004, "Image Quality Assessment: From
  Error Visibility to Structural Similarity"): the mean over 11x11 Gaussian windows
  (sigma 1.5) of

      (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2)),

  C1 = (0.01 L)^2, C2 = (0.03 L)^2, L the data range; 1 for identical images. The
  window shrinks to the image for images smaller than 11 pixels.
  """
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  if a.shape != b.shape or a.ndim != 4:
    raise ValueError(f"ssim needs two (N, H, W, C) arrays of one shape, got {a.shape}, {b.shape}")
  window = min(window, a.shape[1], a.shape[2])
  return np.asarray(_ssim(a, b, window=window, sigma=sigma, data_range=data_range))

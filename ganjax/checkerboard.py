"""Checkerboard artefacts: the share of images' power on the Nyquist row and column.

Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts" (Distill): a stride-2
transposed convolution computes even and odd output rows (and columns) with different kernel
taps, so its artefact is the content times a period-2 carrier, (-1)^i, (-1)^j or (-1)^(i+j),
and the carrier moves the content's spectrum onto the Nyquist frequencies.

Per image x (H, W, C), H and W even, with P = sum_c |FFT2(x_c - mean(x_c))|^2:

    period2_energy(x) = sum_{(u, v) in N} P[u, v] / sum_{u, v} P[u, v]
    N = {u = H/2} | {v = W/2}      (the Nyquist row and column: H + W - 1 of H*W frequencies)

    checkerboard_score(generated, real) = mean period2_energy(generated)
                                          / mean period2_energy(real)

The score is 1 for images like the data and above 1 for more period-2 energy than the data.
period2_energy is 0 for smooth images and 1 for a pure checkerboard or period-2 stripes, and
it ignores brightness, contrast and circular shifts (|FFT| does).

Why the whole row and column, not only the points (H/2, 0), (0, W/2), (H/2, W/2): (-1)^i f(j)
lies entirely on the Nyquist row for any f, so stripes whose strength changes along them
count in full. The three points only hold the carrier's mean amplitude, which is about half
the energy of a checkerboard that follows a digit's strokes. A wider band around Nyquist
would also count natural edges and noise. The FFT is circular, so an image whose top and
bottom rows differ leaks a little power onto the Nyquist row. The same leak is in the real
images, and the score's ratio cancels most of it.
"""

from __future__ import annotations

import numpy as np


def _power(images) -> np.ndarray:
  """(N, H, W) power spectra sum_c |FFT2(x_c - mean x_c)|^2 of (N, H, W, C) images."""
  x = np.asarray(images, np.float64)
  if x.ndim != 4:
    raise ValueError(f"expected images (N, H, W, C), got shape {x.shape}")
  if x.shape[1] % 2 or x.shape[2] % 2:
    raise ValueError(f"period-2 patterns need even sides, got {x.shape[1]}x{x.shape[2]}")
  x = x - x.mean(axis=(1, 2), keepdims=True)
  return (np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2).sum(-1)


def _fractions(power: np.ndarray) -> np.ndarray:
  """Each spectrum divided by its total (0 for a constant image)."""
  total = power.sum(axis=(1, 2), keepdims=True)
  return np.divide(power, total, out=np.zeros_like(power), where=total > 0)


def nyquist_mask(height: int, width: int) -> np.ndarray:
  """bool (H, W): the Nyquist row u = H/2 and column v = W/2 of an unshifted FFT."""
  mask = np.zeros((height, width), bool)
  mask[height // 2, :] = mask[:, width // 2] = True
  return mask


def period2_energy(images) -> np.ndarray:
  """(N,) share of each image's power on the Nyquist row and column, in [0, 1].

  Args:
    images: (N, H, W, C), H and W even (any scale: the mean is removed, the rest is a ratio).

  Returns:
    float64 (N,): sum over N of P / sum of P (module docstring); 0 for a constant image.
  """
  fractions = _fractions(_power(images))
  return (fractions * nyquist_mask(*fractions.shape[1:])).sum(axis=(1, 2))


def checkerboard_score(generated, real) -> float:
  """mean period2_energy(generated) / mean period2_energy(real): 1 = as the data.

  Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts" (Distill).
  """
  reference = period2_energy(real).mean()
  if not reference > 0:
    raise ValueError("the real images have no power on the Nyquist row or column")
  return float(period2_energy(generated).mean() / reference)


def mean_spectrum(images, *, floor: float = 1e-12) -> np.ndarray:
  """(H, W) log10 of the mean normalised power spectrum, fftshifted, for a figure.

  The spectrum is log10(mean_n P_n / sum P_n + floor). The zero frequency is at (H/2, W/2)
  and the Nyquist row and column are at index 0. Before the log, the Nyquist row and column
  sum to the mean period2_energy.
  """
  return np.fft.fftshift(np.log10(_fractions(_power(images)).mean(axis=0) + floor))

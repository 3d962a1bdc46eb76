"""Scatter plots of 2-D samples over reference points, drawn with PIL (no matplotlib)."""

import os

import numpy as np
from PIL import Image, ImageDraw

SAMPLE_COLOR = (31, 119, 180)    # blue dots: generated samples
MODE_COLOR = (214, 39, 40)       # red rings: the mixture's means


def save_scatter(path: str, samples, centers, *, title: str = "", size: int = 512,
                 margin: float = 0.25) -> str:
  """Writes a PNG scatter of `samples` (N, 2) with `centers` (K, 2) marked as rings.

  The view is the centres' bounding box widened by `margin` of its span on each
  side (so far-off samples do not shrink the modes to a dot); samples outside
  it are drawn on the border, so a diverged generator is still visible.
  """
  samples = np.asarray(samples, np.float64).reshape(-1, 2)
  centers = np.asarray(centers, np.float64).reshape(-1, 2)
  lo, hi = centers.min(0), centers.max(0)
  span = max(float(np.max(hi - lo)), 1e-3)
  mid = (lo + hi) / 2
  half = span / 2 + margin * span
  header = 18 if title else 0
  img = Image.new("RGB", (size, size + header), "white")
  draw = ImageDraw.Draw(img)

  def to_px(xy):
    u = (np.clip(xy, mid - half, mid + half) - (mid - half)) / (2 * half)
    return np.stack([u[:, 0] * (size - 1), header + (1 - u[:, 1]) * (size - 1)], axis=1)

  draw.rectangle([0, header, size - 1, size + header - 1], outline=(160, 160, 160))
  for x, y in to_px(np.nan_to_num(samples, nan=0.0, posinf=1e9, neginf=-1e9)):
    draw.rectangle([x - 1, y - 1, x + 1, y + 1], fill=SAMPLE_COLOR)
  r = 6
  for x, y in to_px(centers):
    draw.ellipse([x - r, y - r, x + r, y + r], outline=MODE_COLOR, width=2)
  if title:
    draw.text((4, 3), title, fill=(0, 0, 0))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  img.save(path)
  return path

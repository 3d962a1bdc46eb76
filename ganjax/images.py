"""Sample grids and PNG writing."""

import math
import os

import numpy as np
from PIL import Image


def to_uint8(images) -> np.ndarray:
  """Images in [-1, 1] -> uint8 in [0, 255]."""
  x = (np.asarray(images, np.float32) + 1.0) * 127.5
  return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def make_grid(images, *, ncols: int | None = None, padding: int = 1,
              pad_value: int = 0) -> np.ndarray:
  """Tiles (N, H, W, C) images in [-1, 1] into one uint8 (rows*H', cols*W', C) image.

  `ncols` defaults to ceil(sqrt(N)); missing cells are left at `pad_value`.
  """
  images = np.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"make_grid expects (N, H, W, C) images, got shape {images.shape}")
  n, h, w, c = images.shape
  ncols = ncols or math.ceil(math.sqrt(n))
  nrows = math.ceil(n / ncols)
  grid = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding, c),
                 pad_value, np.uint8)
  for i, img in enumerate(to_uint8(images)):
    r, col = divmod(i, ncols)
    top, left = padding + r * (h + padding), padding + col * (w + padding)
    grid[top:top + h, left:left + w] = img
  return grid


def save_png(path: str, image: np.ndarray, *, scale: int = 1) -> str:
  """Writes a uint8 (H, W, C) image, enlarged `scale` times (nearest), as PNG."""
  image = np.asarray(image)
  if image.shape[-1] == 1:
    image = image[..., 0]
  if scale > 1:
    image = image.repeat(scale, axis=0).repeat(scale, axis=1)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(image).save(path)
  return path

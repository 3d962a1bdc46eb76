"""Paired images (source -> target) for image-to-image translation.

    from ganjax import paired
    pairs = paired.load_pairs("digits_edges", "test", resolution=32, channels=1)
    batches = paired.batches(paired.load_pairs(..., "train", size=36), batch_size=16,
                             resolution=32, flip=False, seed=0)
    next(batches)  # {'source': float32 (16, 32, 32, 1), 'target': float32 (16, 32, 32, 1)}

Datasets:
- Offline tasks made from the shipped digits (ganjax.data.digits, its fixed
  train/test split; targets are the digits at the resolution, sources computed
  from them):
  - `digits_edges`: the Sobel edge magnitude of the digit (outline -> filled digit);
  - `digits_halves`: the left half only, the right half blank (complete the digit);
  - `digits_superres`: a 4x4 block average, bilinearly upsampled (4x4 -> full size).
- `aligned`: the folder format of pix2pix's datasets (facades, maps, edges2shoes,
  ...): `FOLDER/train/` and `FOLDER/test/`, each image holding A (left half) and
  B (right half) side by side, any size, any mode PIL reads; converted to the
  config's channels (gray by luma, or RGB) and resized (bicubic, as the reference).

Random jitter (Isola et al. 2017, section 6.2): the training pairs are kept at
`size` >= resolution; each batch crops both images of a pair at the same random
offset, and optionally flips both. Images stay uint8 until a batch is drawn.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ganjax.images import to_uint8

DIGITS_TASKS = ("digits_edges", "digits_halves", "digits_superres")
DATASETS = (*DIGITS_TASKS, "aligned")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SUPERRES_SIDE = 4  # digits_superres: the side of the low-resolution source


class PairedDataError(ValueError):
  """A paired dataset cannot be read as asked (one line naming the file or folder)."""


@dataclasses.dataclass(frozen=True)
class Pairs:
  """A split of source/target pairs, uint8 (N, S, S, C) each; labels (N,) for digits tasks."""

  source: np.ndarray
  target: np.ndarray
  labels: np.ndarray | None = None

  def __post_init__(self):
    if self.source.shape[:3] != self.target.shape[:3]:
      raise PairedDataError(f"sources {self.source.shape[1:3]} and targets "
                            f"{self.target.shape[1:3]} differ in size: each source must be "
                            f"the size of its target")

  def __len__(self):
    return len(self.source)

  def as_float(self):
    """(source, target) as float32 in [-1, 1]."""
    return to_float(self.source), to_float(self.target)


def to_float(images: np.ndarray) -> np.ndarray:
  return images.astype(np.float32) / 127.5 - 1.0


# --------------------------------------------------------------------------- digits tasks


def _sobel_magnitude(images: np.ndarray) -> np.ndarray:
  """|grad| of (N, H, W, C) images by 3x3 Sobel filters (edge-replicated borders)."""
  p = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  h, w = images.shape[1:3]

  def at(dy, dx):
    return p[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

  gx = (at(-1, 1) + 2 * at(0, 1) + at(1, 1)) - (at(-1, -1) + 2 * at(0, -1) + at(1, -1))
  gy = (at(1, -1) + 2 * at(1, 0) + at(1, 1)) - (at(-1, -1) + 2 * at(-1, 0) + at(-1, 1))
  return np.sqrt(gx ** 2 + gy ** 2)


def digits_source(task: str, target: np.ndarray) -> np.ndarray:
  """The source image of a digits task for uint8 target digits (N, S, S, 1), as uint8."""
  x = target.astype(np.float32) / 255.0
  if task == "digits_edges":
    mag = _sobel_magnitude(x)
    # Each image's edges scaled to its own maximum: an outline, whatever the ink's contrast.
    src = mag / np.maximum(mag.max(axis=(1, 2, 3), keepdims=True), 1e-6)
  elif task == "digits_halves":
    src = x.copy()
    src[:, :, x.shape[2] // 2:] = 0.0
  elif task == "digits_superres":
    import jax
    n = len(x)
    small = jax.image.resize(x, (n, SUPERRES_SIDE, SUPERRES_SIDE, 1), "linear", antialias=True)
    src = np.asarray(jax.image.resize(small, x.shape, "linear"))
  else:
    raise PairedDataError(f"unknown digits task {task!r}; valid: {', '.join(DIGITS_TASKS)}")
  return np.clip(np.round(src * 255.0), 0, 255).astype(np.uint8)


def _digits_pairs(task, split, size, data_dir):
  from ganjax.data.pipeline import load_split
  target, labels = load_split("digits", split, resolution=size, channels=1, data_dir=data_dir)
  target = to_uint8(target)
  return Pairs(digits_source(task, target), target, labels)


# --------------------------------------------------------------------------- aligned folders


def image_files(folder: str) -> list[str]:
  """The image files of `folder`, sorted; PairedDataError if it is missing or has none."""
  if not os.path.isdir(folder):
    raise PairedDataError(f"no folder {folder}")
  files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
  if not files:
    raise PairedDataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
  return [os.path.join(folder, f) for f in files]


def check_aligned_folder(folder: str) -> None:
  """PairedDataError unless `folder` has train/ and test/ subfolders of images."""
  if not folder:
    raise PairedDataError("dataset 'aligned' reads --config.folder=PATH (with train/ and test/ "
                          "subfolders of A|B images): set it")
  for split in ("train", "test"):
    image_files(os.path.join(folder, split))


def open_image(path: str, mode: str):
  """The image at `path` converted to PIL `mode`; PairedDataError if it cannot be read."""
  from PIL import Image, UnidentifiedImageError
  try:
    with Image.open(path) as im:
      im.load()
      return im.convert(mode)  # Palette, RGBA, 16-bit: all to L (luma) or RGB.
  except (OSError, UnidentifiedImageError) as e:
    raise PairedDataError(f"cannot read image {path}: {e}") from None


def split_aligned(image, path: str = "image"):
  """(A, B): the left and right halves of an aligned A|B PIL image."""
  w, h = image.size
  if w % 2:
    raise PairedDataError(f"{path} is {w}x{h}: an aligned image holds A and B side by side, "
                          f"so its width must be even")
  return image.crop((0, 0, w // 2, h)), image.crop((w // 2, 0, w, h))


def resize_square(image, size: int) -> np.ndarray:
  """A PIL image resized to size x size (bicubic, as the reference), uint8 (size, size, C)."""
  from PIL import Image
  arr = np.asarray(image.resize((size, size), Image.BICUBIC), np.uint8)
  return arr[..., None] if arr.ndim == 2 else arr


def _aligned_pairs(folder, split, size, channels, direction):
  mode = {1: "L", 3: "RGB"}[channels]
  a, b = [], []
  for path in image_files(os.path.join(folder, split)):
    left, right = split_aligned(open_image(path, mode), path)
    a.append(resize_square(left, size))
    b.append(resize_square(right, size))
  a, b = np.stack(a), np.stack(b)
  return Pairs(a, b) if direction == "AtoB" else Pairs(b, a)


# --------------------------------------------------------------------------- loading


def load_pairs(dataset: str, split: str, *, size: int, channels: int = 1,
               data_dir: str | None = None, folder: str = "",
               direction: str = "AtoB") -> Pairs:
  """Every pair of `split` ('train' or 'test'), both images resized to size x size.

  Raises:
    PairedDataError: an unknown dataset, a missing or empty folder, an unreadable or
      odd-width aligned image.
  """
  check(dataset, channels=channels, folder=folder, direction=direction)
  if dataset in DIGITS_TASKS:
    return _digits_pairs(dataset, split, size, data_dir)
  return _aligned_pairs(folder, split, size, channels, direction)


def check(dataset: str, *, channels: int, folder: str = "", direction: str = "AtoB") -> None:
  """PairedDataError, in one line, unless `load_pairs` can read the dataset so."""
  if dataset in DIGITS_TASKS:
    if channels != 1:
      raise PairedDataError(f"{dataset} is grayscale: set channels=1, not {channels}")
  elif dataset == "aligned":
    if direction not in ("AtoB", "BtoA"):
      raise PairedDataError(f"direction is AtoB or BtoA, got {direction!r}")
    if channels not in (1, 3):
      raise PairedDataError(f"channels must be 1 or 3, got {channels}")
    check_aligned_folder(folder)
  else:
    raise PairedDataError(f"pix2pix reads paired data: dataset is one of "
                          f"{', '.join(DATASETS)}, not {dataset!r}")


def crop(image: np.ndarray, dy: int, dx: int, resolution: int, flip: bool) -> np.ndarray:
  """The resolution x resolution window of an (S, S, C) image at (dy, dx), flipped left-right
  if `flip`."""
  window = image[dy:dy + resolution, dx:dx + resolution]
  return window[:, ::-1] if flip else window


def batches(pairs: Pairs, *, batch_size: int, resolution: int, flip: bool, seed: int,
            shard_index: int = 0, shard_count: int = 1):
  """Endless {'source', 'target'} float32 batches of this shard, randomly jittered.

  Every shard draws the same global batch (epochs of a seeded permutation, one crop
  offset and flip per pair) and keeps its slice, so the run is the same for any
  number of processes. Pairs held larger than `resolution` are cropped at a random
  offset; both images of a pair get the same crop and flip.
  """
  n, size = len(pairs), pairs.source.shape[1]
  if size < resolution:
    raise PairedDataError(f"pairs of {size}x{size} cannot be cropped to {resolution}")
  rng = np.random.default_rng(seed)
  global_batch = batch_size * shard_count
  order = np.empty(0, np.int64)
  lo, hi = shard_index * batch_size, (shard_index + 1) * batch_size
  while True:
    while len(order) < global_batch:
      order = np.concatenate([order, rng.permutation(n)])
    idx, order = order[:global_batch], order[global_batch:]
    offsets = rng.integers(0, size - resolution + 1, size=(global_batch, 2))
    flips = rng.random(global_batch) < 0.5 if flip else np.zeros(global_batch, bool)
    out = {"source": [], "target": []}
    for i, (dy, dx), f in zip(idx[lo:hi], offsets[lo:hi], flips[lo:hi]):
      for key, images in (("source", pairs.source), ("target", pairs.target)):
        out[key].append(crop(images[i], dy, dx, resolution, f))
    yield {key: to_float(np.stack(v)) for key, v in out.items()}

"""Two unpaired image domains, A and B, for CycleGAN and DiscoGAN.

    from ganjax import unpaired
    train = unpaired.load_domains("digits_rotate", "train", size=36)   # Domains(a, b, ...)
    test = unpaired.load_domains("digits_rotate", "test", size=32)     # test.a[i] <-> test.b[i]
    batches = unpaired.batches(train, batch_size=1, resolution=32, flip=False, seed=0)
    next(batches)  # {'a': float32 (1, 32, 32, 1), 'b': float32 (1, 32, 32, 1)}

Datasets:
- Offline domain pairs made from the shipped digits (ganjax.data.digits, its fixed
  train/test split). Domain A and domain B of the train split come from DISJOINT halves
  of it (a fixed random half each), so no training image has its counterpart in the
  other domain; the test split keeps both forms of every digit, `a[i] <-> b[i]`, with
  its class, so a translation can be scored against its true counterpart:
  - `digits_invert`: white on black <-> black on white (a smoke test);
  - `digits_bold`: thin strokes (grey erosion) <-> bold strokes (grey dilation);
  - `digits_rotate`: upright <-> rotated 90 degrees counter-clockwise (a geometric
    change: CycleGAN's paper shows it failing there, DiscoGAN's claims it);
  - `digits_font`: handwritten <-> the same class rendered with Pillow's built-in
    scalable font at a random size, stroke weight and position (the test counterpart
    is one such rendering: pixel scores against it are loose, labels are exact).
- `folder`: the reference's unpaired layout, FOLDER/trainA, trainB, testA, testB of
  images of any size and any mode PIL reads (converted to the config's channels and
  resized, bicubic); the test images are not paired.
- `cycle_gan/<name>`: TFDS's CycleGAN datasets (horse2zebra, monet2photo, ...; splits
  trainA, trainB, testA, testB), read from `data_dir`.

Random jitter as the reference: the train images are held at `size` >= resolution and
each one drawn is cropped at a random offset (and optionally flipped), independently
per domain. Images stay uint8 until a batch is drawn.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ganjax import paired
from ganjax.images import to_uint8

DIGITS_DOMAINS = ("digits_invert", "digits_bold", "digits_rotate", "digits_font")
FOLDER_SPLITS = ("trainA", "trainB", "testA", "testB")
TFDS_PREFIX = "cycle_gan/"
DATASETS = (*DIGITS_DOMAINS, "folder", TFDS_PREFIX + "<name>")


class UnpairedDataError(ValueError):
  """Domains cannot be read as asked (one line naming the file, folder or value)."""


@dataclasses.dataclass(frozen=True)
class Domains:
  """Images of domain A and of domain B, uint8 (N, S, S, C) each.

  `paired`: a[i] and b[i] are one image in both domains (the digits test splits);
  `labels`: their classes (N,) then, else None.
  """

  a: np.ndarray
  b: np.ndarray
  labels: np.ndarray | None = None
  paired: bool = False

  def __post_init__(self):
    if self.a.shape[1:] != self.b.shape[1:]:
      raise UnpairedDataError(f"domain A images {self.a.shape[1:]} and domain B images "
                              f"{self.b.shape[1:]} differ in size or channels")

  def as_float(self):
    """(a, b) as float32 in [-1, 1]."""
    return paired.to_float(self.a), paired.to_float(self.b)


# --------------------------------------------------------------------------- digits domains


def _grey_morphology(images: np.ndarray, radius: int, op) -> np.ndarray:
  """Grey erosion (op=np.minimum) or dilation (np.maximum) of (N, H, W, C) by a disk."""
  h, w = images.shape[1:3]
  p = np.pad(images, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
  out = images.copy()
  for dy in range(-radius, radius + 1):
    for dx in range(-radius, radius + 1):
      if dy * dy + dx * dx <= radius * radius:
        out = op(out, p[:, radius + dy:radius + dy + h, radius + dx:radius + dx + w])
  return out


def _font_digits(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
  """Each class rendered in Pillow's built-in scalable font, white on black, uint8
  (N, size, size, 1): height 50-85% of the image, stroke 0 to size/16, offset up to
  +-size/10, all drawn from `seed` per image."""
  from PIL import Image, ImageDraw, ImageFont
  rng = np.random.default_rng(seed)
  fonts = {}
  out = np.zeros((len(labels), size, size, 1), np.uint8)
  for i, label in enumerate(labels):
    height = int(round(size * rng.uniform(0.5, 0.85)))
    stroke = int(rng.integers(0, max(1, size // 16) + 1))
    dx, dy = rng.uniform(-0.1, 0.1, size=2) * size
    if height not in fonts:
      fonts[height] = ImageFont.load_default(size=height)
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).text((size / 2 + dx, size / 2 + dy), str(int(label)), fill=255,
                                font=fonts[height], anchor="mm", stroke_width=stroke,
                                stroke_fill=255)
    out[i, ..., 0] = np.asarray(canvas)
  return out


def digits_domain_pair(task: str, digits: np.ndarray, labels: np.ndarray, *, seed: int = 0):
  """(A form, B form) of uint8 digits (N, S, S, 1), white on black, for a digits task."""
  size = digits.shape[1]
  if task == "digits_invert":
    return digits, 255 - digits
  if task == "digits_bold":
    radius = max(1, size // 32)
    return (_grey_morphology(digits, radius, np.minimum),
            _grey_morphology(digits, radius, np.maximum))
  if task == "digits_rotate":
    return digits, np.ascontiguousarray(np.rot90(digits, k=1, axes=(1, 2)))
  if task == "digits_font":
    return digits, _font_digits(labels, size, seed)
  raise UnpairedDataError(f"unknown digits domain pair {task!r}; valid: "
                          f"{', '.join(DIGITS_DOMAINS)}")


def digits_split(task: str, split: str, size: int, data_dir: str | None = None):
  """(A form, B form, labels) of every digit of `split`, uint8, a[i] <-> b[i]."""
  from ganjax.data.pipeline import load_split
  images, labels = load_split("digits", split, resolution=size, channels=1, data_dir=data_dir)
  # The font renderings of the train and test splits differ: another seed per split.
  a, b = digits_domain_pair(task, to_uint8(images), labels, seed={"train": 0}.get(split, 1))
  return a, b, labels


def _digits_domains(task, split, size, data_dir):
  a, b, labels = digits_split(task, split, size, data_dir)
  if split != "train":
    return Domains(a, b, labels, paired=True)
  # Disjoint halves: A's digits are never B's, so nothing pairs them but their classes.
  order = np.random.default_rng(0).permutation(len(a))
  half = len(a) // 2
  return Domains(a[order[:half]], b[order[half:]])


# --------------------------------------------------------------------------- folders, TFDS


def _folder_domain(folder, split, size, channels):
  mode = {1: "L", 3: "RGB"}[channels]
  out = []
  for path in paired.image_files(os.path.join(folder, split)):
    arr = paired.resize_square(paired.open_image(path, mode), size)
    out.append(arr)
  return np.stack(out)


def _tfds_domain(name, split, size, channels, data_dir):
  from ganjax.data.pipeline import load_split
  images, _ = load_split(name, split, resolution=size, channels=channels, data_dir=data_dir)
  return to_uint8(images)


# --------------------------------------------------------------------------- loading


def load_domains(dataset: str, split: str, *, size: int, channels: int = 1,
                 data_dir: str | None = None, folder: str = "") -> Domains:
  """Domain A and domain B of `split` ('train' or 'test'), resized to size x size.

  Raises:
    UnpairedDataError: an unknown dataset, a missing or empty folder, an unreadable image.
  """
  check(dataset, channels=channels, folder=folder)
  if dataset in DIGITS_DOMAINS:
    return _digits_domains(dataset, split, size, data_dir)
  if dataset == "folder":
    read = lambda d: _folder_domain(folder, f"{split}{d}", size, channels)  # noqa: E731
  else:
    read = lambda d: _tfds_domain(dataset, f"{split}{d}", size, channels, data_dir)  # noqa: E731
  try:
    return Domains(read("A"), read("B"))
  except paired.PairedDataError as e:
    raise UnpairedDataError(str(e)) from None


def check(dataset: str, *, channels: int, folder: str = "") -> None:
  """UnpairedDataError, in one line, unless `load_domains` can read the dataset so."""
  if dataset in DIGITS_DOMAINS:
    if channels != 1:
      raise UnpairedDataError(f"{dataset} is grayscale: set channels=1, not {channels}")
    return
  if channels not in (1, 3):
    raise UnpairedDataError(f"channels must be 1 or 3, got {channels}")
  if dataset == "folder":
    if not folder:
      raise UnpairedDataError("dataset 'folder' reads --config.folder=PATH (with trainA/, "
                              "trainB/, testA/, testB/ subfolders of images): set it")
    try:
      for split in FOLDER_SPLITS:
        paired.image_files(os.path.join(folder, split))
    except paired.PairedDataError as e:
      raise UnpairedDataError(str(e)) from None
  elif not (dataset.startswith(TFDS_PREFIX) and len(dataset) > len(TFDS_PREFIX)):
    raise UnpairedDataError(f"CycleGAN and DiscoGAN read two domains: dataset is one of "
                            f"{', '.join(DATASETS)}, not {dataset!r}")


def batches(domains: Domains, *, batch_size: int, resolution: int, flip: bool, seed: int,
            shard_index: int = 0, shard_count: int = 1):
  """Endless {'a', 'b'} float32 batches of this shard, each image randomly jittered.

  Each domain runs through epochs of its own seeded permutation; every shard draws
  the same global batch and keeps its slice, so a run is the same for any number of
  processes. Images held larger than `resolution` are cropped at a random offset.
  """
  size = domains.a.shape[1]
  if size < resolution:
    raise UnpairedDataError(f"images of {size}x{size} cannot be cropped to {resolution}")
  rngs = {"a": np.random.default_rng([seed, 0]), "b": np.random.default_rng([seed, 1])}
  orders = {"a": np.empty(0, np.int64), "b": np.empty(0, np.int64)}
  global_batch = batch_size * shard_count
  lo, hi = shard_index * batch_size, (shard_index + 1) * batch_size
  while True:
    out = {}
    for key in ("a", "b"):
      images, rng = getattr(domains, key), rngs[key]
      while len(orders[key]) < global_batch:
        orders[key] = np.concatenate([orders[key], rng.permutation(len(images))])
      idx, orders[key] = orders[key][:global_batch], orders[key][global_batch:]
      offsets = rng.integers(0, size - resolution + 1, size=(global_batch, 2))
      flips = rng.random(global_batch) < 0.5 if flip else np.zeros(global_batch, bool)
      out[key] = paired.to_float(np.stack([
          paired.crop(images[i], dy, dx, resolution, f)
          for i, (dy, dx), f in zip(idx[lo:hi], offsets[lo:hi], flips[lo:hi])]))
    yield out

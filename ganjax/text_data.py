"""Captioned images for text-to-image families: the data, its text embeddings, its batches.

Two sources:
  * `captioned_digits` (offline, the default): ganjax.captioned_digits' digits placed on a
    canvas with ten captions each ("a small thick seven in the top left") and the attributes
    they were drawn from.
  * `folder`: your captioned images, FOLDER/train/ and FOLDER/test/, each image NAME.png
    (any format PIL reads) beside NAME.txt, one caption per line, and optionally NAME.npy,
    precomputed text embeddings (K, E) of those K captions (the reference's char-CNN-RNN
    embeddings, say). Without .npy files a text encoder is trained on the folder's train
    captions (cached); with them the run conditions on them, and typed captions cannot be
    embedded.

Text goes through a frozen encoder (ganjax.text_encoder) once, when the data is loaded: the
GAN sees embeddings only, as the reference's precomputed ones.

Batches draw one caption of each image and a mismatched caption for the discriminator's
(real image, wrong text) pairs. A wrong caption must not describe the image: for the digits
it comes from an image of another class (every caption names its digit); for a folder, from
another image, and never a caption text the image itself has.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os

import numpy as np

from ganjax import paired

ENCODER_RESOLUTION = 32  # The text encoder's image side: images are resized to it to score.
DATASETS = ("captioned_digits", "folder")


class TextDataError(ValueError):
  """A captioned dataset that cannot be read, in one line."""


@dataclasses.dataclass(frozen=True)
class CaptionedImages:
  """One split: images uint8 (N, R, R, C), captions (N tuples of strings), their embeddings
  float32 (N, K, E) (K captions an image; shorter lists repeat), `groups` (N,) ints (images
  of one group may share captions: never a wrong caption of each other), and the digits'
  attributes {name: (N,) int} (None for a folder)."""

  images: np.ndarray
  captions: tuple
  embeddings: np.ndarray
  groups: np.ndarray
  attributes: dict | None = None

  def __len__(self):
    return len(self.images)

  def as_float(self) -> np.ndarray:
    return paired.to_float(self.images)


def check(config) -> None:
  """TextDataError, in one line, for a dataset this module cannot read (no data is read)."""
  if config.dataset not in DATASETS:
    raise TextDataError(f"unknown dataset {config.dataset!r} for a text-to-image run; valid: "
                        f"{', '.join(DATASETS)} (a folder: --config.dataset=folder "
                        f"--config.folder=DIR)")
  if config.dataset == "folder":
    if not config.folder:
      raise TextDataError("dataset 'folder' needs --config.folder=DIR (DIR/train and "
                          "DIR/test: images with NAME.txt captions beside them)")
    for split in ("train", "test"):
      if not os.path.isdir(os.path.join(config.folder, split)):
        raise TextDataError(f"{os.path.join(config.folder, split)} is not a directory: a "
                            f"captioned folder has train/ and test/ (images with NAME.txt)")
  elif config.channels != 1:
    raise TextDataError(f"captioned_digits are gray: channels must be 1, got {config.channels}")


# --------------------------------------------------------------------------- folders


def _folder_split(folder: str, split: str, size: int, channels: int):
  """(images uint8, captions, embeddings or None) of FOLDER/split, sorted by name."""
  directory = os.path.join(folder, split)
  files = paired.image_files(directory)
  if not files:
    raise TextDataError(f"{directory} holds no images")
  mode = {1: "L", 3: "RGB"}[channels]
  images, captions, embeddings = [], [], []
  for path in files:
    stem = os.path.splitext(path)[0]
    if not os.path.exists(stem + ".txt"):
      raise TextDataError(f"{path} has no captions: expected {stem}.txt beside it, one "
                          f"caption per line")
    with open(stem + ".txt", encoding="utf-8") as f:
      lines = tuple(line.strip() for line in f if line.strip())
    if not lines:
      raise TextDataError(f"{stem}.txt holds no caption")
    captions.append(lines)
    images.append(paired.resize_square(paired.open_image(path, mode), size))
    if os.path.exists(stem + ".npy"):
      e = np.load(stem + ".npy")
      if e.ndim != 2 or len(e) != len(lines):
        raise TextDataError(f"{stem}.npy must hold one embedding per caption of {stem}.txt: "
                            f"({len(lines)}, E), got shape {e.shape}")
      embeddings.append(e.astype(np.float32))
  if embeddings and len(embeddings) != len(files):
    raise TextDataError(f"{directory}: {len(embeddings)} of {len(files)} images have .npy "
                        f"embeddings: give them for every image or for none")
  if embeddings and len({e.shape[1] for e in embeddings}) > 1:
    raise TextDataError(f"{directory}: the .npy embeddings have different sizes")
  return np.stack(images)[..., :channels], tuple(captions), embeddings or None


def _same_groups(captions) -> np.ndarray:
  """Images with a caption text in common share a group (never a wrong pair)."""
  owner: dict[str, int] = {}
  groups = np.arange(len(captions))
  for i, caps in enumerate(captions):
    for text in caps:
      key = " ".join(text.lower().split())
      if key in owner:
        groups[i] = groups[owner[key]]
      else:
        owner[key] = i
  return groups


# --------------------------------------------------------------------------- encoder


def has_text_encoder(config) -> bool:
  """Whether the run embeds text itself (False: a folder with precomputed embeddings)."""
  if config.dataset != "folder":
    return True
  train = os.path.join(config.folder, "train")
  return not any(name.endswith(".npy") for name in os.listdir(train))


def text_encoder(config, log=print):
  """The frozen text encoder of the config's dataset, trained once and cached."""
  from ganjax import captioned_digits, text_encoder as te
  if config.dataset == "captioned_digits":
    def load_data():  # The attributes each caption states (-1: not stated) as targets.
      d = captioned_digits.load("train", resolution=ENCODER_RESOLUTION)
      stated = [[captioned_digits.parse_caption(t) for t in caps] for caps in d.captions]
      attributes = {name: np.array([[s.get(name, -1) for s in row] for row in stated])
                    for name in captioned_digits.ATTRIBUTES}
      return d.images, d.captions, attributes, dict(captioned_digits.NUM_CODES)
    name = "captioned_digits"
  else:
    folder = os.path.abspath(config.folder)
    def load_data():  # Trained on train; the test captions' words are in its vocabulary.
      images, captions, _ = _folder_split(folder, "train", ENCODER_RESOLUTION, config.channels)
      test_words = {w for text in _folder_captions(folder, "test") for w in te.tokenize(text)}
      return images, captions, None, None, tuple(sorted(test_words))
    # The cache is keyed by the folder's captions: other captions, another encoder.
    digest = hashlib.sha256(repr([_folder_captions(folder, split) for split in
                                  ("train", "test")]).encode()).hexdigest()[:12]
    name = f"captions_{digest}"
  return te.get_text_encoder(name, load_data, resolution=ENCODER_RESOLUTION,
                             channels=config.channels, log=log)


def embedding_dim(config) -> int:
  """E: the size of the config's text embeddings."""
  if has_text_encoder(config):
    return text_encoder(config).out_dim
  for name in sorted(os.listdir(os.path.join(config.folder, "train"))):
    if name.endswith(".npy"):
      return int(np.load(os.path.join(config.folder, "train", name), mmap_mode="r").shape[1])
  raise TextDataError(f"{config.folder}/train holds no .npy embeddings")


def _folder_captions(folder: str, split: str):
  out = []
  for path in paired.image_files(os.path.join(folder, split)):
    with open(os.path.splitext(path)[0] + ".txt", encoding="utf-8") as f:
      out.append(f.read())
  return out


def _embed_all(encoder, captions, k: int) -> np.ndarray:
  """(N, k, E): each image's captions embedded (lists shorter than k cycle)."""
  flat = [caps[j % len(caps)] for caps in captions for j in range(k)]
  return encoder.embed_captions(flat).reshape(len(captions), k, -1)


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=8)
def _load(dataset, folder, split, resolution, channels, log=print) -> CaptionedImages:
  from ganjax import captioned_digits
  config = _Config(dataset, folder, channels)
  if dataset == "captioned_digits":
    d = captioned_digits.load(split, resolution=resolution)
    embeddings = _embed_all(text_encoder(config, log), d.captions, len(d.captions[0]))
    return CaptionedImages(d.images, d.captions, embeddings, np.asarray(d.attributes["label"]),
                           dict(d.attributes))
  images, captions, given = _folder_split(folder, split, resolution, channels)
  k = max(len(c) for c in captions)
  if given is not None:
    embeddings = np.stack([np.resize(e, (k, e.shape[1])) for e in given])
  else:
    embeddings = _embed_all(text_encoder(config, log), captions, k)
  return CaptionedImages(images, captions, embeddings, _same_groups(captions))


@dataclasses.dataclass(frozen=True)
class _Config:
  dataset: str
  folder: str
  channels: int


def load(config, split: str, *, resolution: int | None = None, log=print) -> CaptionedImages:
  """The config's captioned split at `resolution` (default config.resolution)."""
  check(config)
  folder = os.path.abspath(config.folder) if config.dataset == "folder" else ""
  return _load(config.dataset, folder, split, resolution or config.resolution,
               config.channels, log)


# --------------------------------------------------------------------------- batches


def wrong_indices(groups: np.ndarray, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """For each image `index[i]`, another image of a different group, uniformly."""
  n = len(groups)
  out = rng.integers(0, n, size=len(index))
  for _ in range(100):  # Rejection: most groups are a small part of the data.
    bad = groups[out] == groups[index]
    if not bad.any():
      return out
    out[bad] = rng.integers(0, n, size=int(bad.sum()))
  raise TextDataError("every image shares captions with every other: no mismatched "
                      "captions can be drawn")


def batches(data: CaptionedImages, *, batch_size: int, seed: int, shard_index: int = 0,
            shard_count: int = 1):
  """Endless minibatches of this process's shard: {'image': (B, R, R, C) float32 in [-1, 1],
  'embedding': (B, E) one caption of each image, 'wrong_embedding': (B, E) a caption of an
  image of another group}, epoch after shuffled epoch."""
  images = data.as_float()
  own = np.arange(shard_index, len(data), shard_count)
  rng = np.random.default_rng([seed, shard_index])
  k = data.embeddings.shape[1]
  while True:
    order = rng.permutation(own)
    for start in range(0, len(order) - batch_size + 1, batch_size):
      index = order[start:start + batch_size]
      wrong = wrong_indices(data.groups, index, rng)
      yield {"image": images[index],
             "embedding": data.embeddings[index, rng.integers(0, k, batch_size)],
             "wrong_embedding": data.embeddings[wrong, rng.integers(0, k, batch_size)]}

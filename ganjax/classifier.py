"""A domain classifier that ganjax trains itself: features and class probabilities for evaluation.

InceptionV3 features are the standard for FID, but they were learnt on ImageNet photographs, and
on 8x8 digits or MNIST they measure little. For a labelled dataset, a small convnet trained on
that dataset gives features that do: its penultimate activations for a Frechet Classifier
Distance (FCD) and for precision/recall/density/coverage, its class probabilities for a
classifier Inception Score, class coverage and the KL of the generated class histogram to the
real one (see ganjax.evaluate).

    clf = classifier.get_classifier('digits', resolution=16, channels=1)
    features, probs = clf.predict(images)          # images (N, 16, 16, 1) in [-1, 1]
    clf.test_accuracy                              # on the test split, e.g. 0.98

`get_classifier` trains the network on the train split on first use (digits at 32x32: 701
steps, about 25 s of CPU time, 99.7% test accuracy) and caches it in
`<cache>/classifiers/<dataset>_<resolution>_<channels>/`, where <cache> is $GANJAX_CACHE_DIR,
else $XDG_CACHE_HOME/ganjax, else ~/.cache/ganjax; a later call with the same dataset and
shape loads it. A cache that cannot be read (a truncated
file, another architecture) is retrained and overwritten, with a warning.

The network: per stage a 3x3 convolution and ReLU then 2x2 max pooling, channels 16, 32, 64,
..., until the image is 4x4 (at least two stages); then a 128-unit dense layer with ReLU (the
features) and dropout, and a dense layer to the class logits. Trained with Adam, batch 64, and
random shifts of up to max(1, resolution/16) pixels.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
import warnings

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

# Bump when the network or its training changes: older caches are then retrained.
VERSION = 3
FEATURE_DIM = 128
MIN_TEST_ACCURACY_DIGITS = 0.97
_WEIGHTS = "classifier.msgpack"
_META = "classifier.json"


class ClassifierError(ValueError):
  """The domain classifier cannot be built for this dataset (e.g. it has no labels)."""


# --------------------------------------------------------------------------- network


class ConvClassifier(nn.Module):
  """Small convnet: returns (logits (B, K), features (B, FEATURE_DIM))."""

  num_classes: int
  widths: tuple[int, ...] = (16, 32)
  feature_dim: int = FEATURE_DIM
  dropout: float = 0.3

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    for width in self.widths:
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    features = nn.relu(nn.Dense(self.feature_dim)(x))
    h = nn.Dropout(self.dropout, deterministic=not train)(features)
    return nn.Dense(self.num_classes)(h), features


def widths_for(resolution: int) -> tuple[int, ...]:
  """Channels per stage: halve the image until it is 4x4, and at least twice (8x8 digits:
  98.3% test accuracy with two stages, 97.3% with one)."""
  stages = max(2, int(round(math.log2(max(resolution, 4) / 4))))
  return tuple(16 * 2**i for i in range(stages))


def _shift(images, key, max_shift: int):
  """Random translations by up to max_shift pixels, background (-1) filled in."""
  if max_shift == 0:
    return images
  n, h, w, _ = images.shape
  pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0))
  padded = jnp.pad(images, pad, constant_values=-1.0)
  offsets = jax.random.randint(key, (n, 2), 0, 2 * max_shift + 1)

  def crop(img, off):
    return jax.lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, img.shape[-1]))

  return jax.vmap(crop)(padded, offsets)


# --------------------------------------------------------------------------- the trained classifier


@dataclasses.dataclass
class DomainClassifier:
  """A trained ConvClassifier: `predict(images) -> (features, probs)` and its metadata."""

  module: ConvClassifier
  params: dict
  meta: dict

  @property
  def test_accuracy(self) -> float | None:
    return self.meta.get("test_accuracy")

  @property
  def num_classes(self) -> int:
    return self.module.num_classes

  @functools.cached_property
  def _apply(self):
    return jax.jit(lambda params, x: self.module.apply({"params": params}, x, train=False))

  def predict(self, images, *, batch_size: int = 500):
    """(features float32 (N, 128), class probabilities float32 (N, K)) of images in [-1, 1]."""
    images = np.asarray(images, np.float32)
    expected = (self.meta["resolution"], self.meta["resolution"], self.meta["channels"])
    if images.ndim != 4 or images.shape[1:] != expected:
      raise ValueError(f"the {self.meta['dataset']} classifier takes images of shape "
                       f"(N, {', '.join(map(str, expected))}), got {images.shape}")
    features, probs = [], []
    for start in range(0, len(images), batch_size):
      chunk = images[start:start + batch_size]
      n = len(chunk)
      if n < batch_size and len(images) > batch_size:  # One compiled shape for all chunks.
        chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]),
                                                chunk.dtype)])
      logits, feats = self._apply(self.params, chunk)
      features.append(np.asarray(feats)[:n])
      probs.append(np.asarray(jax.nn.softmax(logits))[:n])
    return np.concatenate(features), np.concatenate(probs)

  def accuracy(self, images, labels) -> float:
    _, probs = self.predict(images)
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def train_classifier(images, labels, *, num_classes: int, num_steps: int, batch_size: int = 64,
                     learning_rate: float = 1e-3, seed: int = 0,
                     widths: tuple[int, ...] | None = None) -> tuple[ConvClassifier, dict]:
  """Trains a ConvClassifier on images (N, R, R, C) in [-1, 1] and labels (N,).

  Returns (module, params).
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32)
  if images.ndim != 4 or labels.shape != images.shape[:1]:
    raise ValueError(f"need images (N, H, W, C) and labels (N,), got {images.shape} and "
                     f"{labels.shape}")
  resolution = images.shape[1]
  module = ConvClassifier(num_classes=num_classes, widths=widths or widths_for(resolution))
  init_key, data_key, step_key = jax.random.split(jax.random.key(seed), 3)
  params = module.init(init_key, jnp.zeros((1, *images.shape[1:])))["params"]
  tx = optax.adam(learning_rate)
  opt_state = tx.init(params)
  max_shift = max(1, resolution // 16)
  batch_size = min(batch_size, len(images))

  @jax.jit
  def step(params, opt_state, x, y, key):
    shift_key, dropout_key = jax.random.split(key)
    x = _shift(x, shift_key, max_shift)

    def loss_fn(p):
      logits, _ = module.apply({"params": p}, x, train=True, rngs={"dropout": dropout_key})
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  order, pos = rng.permutation(len(images)), 0
  for i in range(num_steps):
    if pos + batch_size > len(order):  # A fresh shuffle each epoch; full batches only.
      order, pos = rng.permutation(len(images)), 0
    idx = order[pos:pos + batch_size]
    pos += batch_size
    params, opt_state = step(params, opt_state, images[idx], labels[idx],
                             jax.random.fold_in(step_key, i))
  return module, params


def default_num_steps(num_train: int, batch_size: int = 64) -> int:
  """30 epochs, at least 500 and at most 3000 steps (digits: 690; mnist: 3000, 3.2 epochs)."""
  return int(min(3000, max(500, 30 * num_train // batch_size)))


# --------------------------------------------------------------------------- cache


def default_cache_root() -> str:
  root = os.environ.get("GANJAX_CACHE_DIR")
  if not root:
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(xdg, "ganjax")
  return root


def default_directory(dataset: str, resolution: int, channels: int,
                      center_crop: int | None = None) -> str:
  """<cache>/classifiers/<dataset>_<resolution>_<channels>[_crop<c>]."""
  name = f"{dataset}_{resolution}_{channels}" + (f"_crop{center_crop}" if center_crop else "")
  return os.path.join(default_cache_root(), "classifiers", name)


def _write_atomic(path: str, payload: bytes) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(payload)
  os.replace(tmp, path)  # Readers never see half a file.


def save(directory: str, clf: DomainClassifier) -> None:
  os.makedirs(directory, exist_ok=True)
  _write_atomic(os.path.join(directory, _WEIGHTS),
                flax.serialization.to_bytes(jax.device_get(clf.params)))
  # The metadata last: its presence says the weights are complete.
  _write_atomic(os.path.join(directory, _META),
                (json.dumps(clf.meta, indent=2) + "\n").encode())


def load(directory: str, expected: dict) -> DomainClassifier:
  """Loads a cached classifier; raises ClassifierError if it is missing, corrupt or different.

  `expected`: metadata fields that must match (dataset, resolution, channels, ...).
  """
  meta_path = os.path.join(directory, _META)
  weights_path = os.path.join(directory, _WEIGHTS)
  if not os.path.exists(meta_path):
    raise ClassifierError(f"no cached classifier in {directory}")
  try:
    with open(meta_path) as f:
      meta = json.load(f)
  except (OSError, ValueError) as e:
    raise ClassifierError(f"unreadable {meta_path}: {e}") from e
  mismatched = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
  if mismatched:
    detail = ", ".join(f"{k}={a!r} (want {b!r})" for k, (a, b) in mismatched.items())
    raise ClassifierError(f"the classifier cached in {directory} is another one: {detail}")
  module = ConvClassifier(num_classes=meta["num_classes"], widths=tuple(meta["widths"]))
  shape = (1, meta["resolution"], meta["resolution"], meta["channels"])
  target = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros(shape))["params"]
  target = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), target)
  try:
    with open(weights_path, "rb") as f:
      params = flax.serialization.from_bytes(target, f.read())
    shapes_ok = jax.tree.all(jax.tree.map(lambda a, b: np.shape(a) == np.shape(b),
                                          target, params))
  except Exception as e:  # msgpack raises several types on truncated or foreign bytes.
    raise ClassifierError(f"unreadable classifier weights {weights_path}: {e}") from e
  if not shapes_ok:
    raise ClassifierError(f"classifier weights {weights_path} do not fit the network")
  return DomainClassifier(module, params, meta)


def get_classifier(dataset: str, *, resolution: int, channels: int, data_dir: str | None = None,
                   center_crop: int | None = None, directory: str | None = None,
                   train_split: str = "train", test_split: str = "test",
                   num_steps: int | None = None, seed: int = 0,
                   log=print) -> DomainClassifier:
  """The domain classifier of a labelled dataset: loaded from `directory`, else trained there.

  Args:
    dataset: a TFDS image dataset with a `label` feature ('digits', 'mnist', ...).
    resolution, channels, center_crop: the image shape the GAN was trained on.
    data_dir: TFDS data directory (as `config.data_dir`).
    directory: the cache directory; default `default_directory(dataset, resolution, channels)`.
    num_steps: training steps; default `default_num_steps(train size)`.
    log: where progress lines go (print; a no-op to silence).

  Raises:
    ClassifierError: the dataset has no labels.
    DatasetNotFoundError: the dataset is not prepared and cannot be downloaded.
  """
  from ganjax import data
  directory = directory or default_directory(dataset, resolution, channels, center_crop)
  expected = {"version": VERSION, "dataset": dataset, "resolution": resolution,
              "channels": channels, "center_crop": center_crop or 0,
              "train_split": train_split}
  cached = _load_cached(directory, expected)
  if cached is not None:
    return cached

  dinfo = data.info(dataset, data_dir=data_dir)
  if not dinfo.num_classes:
    raise ClassifierError(f"dataset {dataset!r} has no class labels: no domain classifier")
  from ganjax import data  # TensorFlow only when data is read.
  images, labels = data.load_split(dataset, train_split, resolution=resolution,
                                   channels=channels, data_dir=data_dir,
                                   center_crop=center_crop)
  if labels is None:
    raise ClassifierError(f"dataset {dataset!r} has no class labels: no domain classifier")
  test = None
  if test_split in dinfo.num_examples:
    test = data.load_split(dataset, test_split, resolution=resolution, channels=channels,
                           data_dir=data_dir, center_crop=center_crop)
  return _train_and_cache(directory, expected, images, labels, dinfo.num_classes,
                          test=test, test_split=test_split, num_steps=num_steps, seed=seed,
                          log=log)


def classifier_for_images(name: str, load_images, *, resolution: int, channels: int,
                          num_classes: int, directory: str | None = None,
                          num_steps: int | None = None, seed: int = 0,
                          log=print) -> DomainClassifier:
  """A domain classifier of labelled images made in memory (e.g. a transformed digits domain).

  `load_images()` returns (train, test), each (images (N, resolution, resolution,
  channels) in [-1, 1], labels (N,)), test possibly None; it is called only when no
  classifier is cached. `name` keys the cache (default directory
  `default_directory(name, resolution, channels)`), so one name must always mean the same
  images. Trained and cached as `get_classifier` does.
  """
  directory = directory or default_directory(name, resolution, channels)
  expected = {"version": VERSION, "dataset": name, "resolution": resolution,
              "channels": channels, "center_crop": 0, "train_split": "train"}
  cached = _load_cached(directory, expected)
  if cached is not None:
    return cached
  (images, labels), test = load_images()
  return _train_and_cache(directory, expected, images, labels, num_classes, test=test,
                          test_split="test", num_steps=num_steps, seed=seed, log=log)


def _load_cached(directory: str, expected: dict) -> DomainClassifier | None:
  """The classifier cached in `directory`; None (with a warning if one is there but does
  not load) when it must be trained."""
  if os.path.exists(os.path.join(directory, _META)):
    try:
      return load(directory, expected)
    except ClassifierError as e:
      warnings.warn(f"{e}; retraining it", stacklevel=3)
  return None


def _train_and_cache(directory, expected, images, labels, num_classes, *, test, test_split,
                     num_steps, seed, log) -> DomainClassifier:
  name = expected["dataset"]
  num_steps = num_steps or default_num_steps(len(images))
  log(f"training the {name} domain classifier ({num_steps} steps on {len(images)} "
      f"images); it is cached in {directory}")
  t0 = time.time()
  module, params = train_classifier(images, labels, num_classes=num_classes,
                                    num_steps=num_steps, seed=seed)
  seconds = time.time() - t0
  meta = {**expected, "num_classes": num_classes, "widths": list(module.widths),
          "feature_dim": module.feature_dim, "num_steps": num_steps, "seed": seed,
          "num_train": int(len(images)), "train_seconds": round(seconds, 1)}
  clf = DomainClassifier(module, params, meta)
  if test is not None:
    test_images, test_labels = test
    meta["test_split"] = test_split
    meta["num_test"] = int(len(test_images))
    meta["test_accuracy"] = clf.accuracy(test_images, test_labels)
    log(f"{name} domain classifier: test accuracy {meta['test_accuracy']:.4f} on "
        f"{len(test_images)} images ({seconds:.0f} s of training)")
  save(directory, clf)
  return clf

"""The labelled few of a semi-supervised run: which examples keep their labels, and their stream.

A semi-supervised GAN trains on every training image without its label, plus
`num_labeled` images with theirs (e.g. 5 per class on digits, 100 in all on
MNIST). The labelled examples are the first `num_labeled / K` of each class in
the split's shuffled order for `seed`: exactly `num_labeled`, balanced, and the
same on every run, every process and every machine with the same seed.
"""

from collections.abc import Iterator

import numpy as np



def _per_class(num_labeled: int, num_classes: int) -> int:
  if num_classes < 1 or num_labeled < num_classes or num_labeled % num_classes:
    raise ValueError(f"num_labeled must be a positive multiple of num_classes={num_classes} "
                     f"(balanced classes), got {num_labeled}")
  return num_labeled // num_classes


def labeled_subset(name: str, *, split: str, num_labeled: int, num_classes: int,
                   resolution: int, channels: int | None = None, seed: int = 0,
                   data_dir: str | None = None, center_crop: int | None = None):
  """(images (N, R, R, C) float32 in [-1, 1], labels (N,) int32) with N = num_labeled.

  Reads `split` of dataset `name` in its shuffled order for `seed` (the whole
  split, not a process's shard, so every process picks the same examples)
  and keeps the first num_labeled / K examples of each class; stops reading
  as soon as every class is full.
  """
  from ganjax import data  # TensorFlow, only when a dataset is read (see train.py).
  per_class = _per_class(num_labeled, num_classes)
  counts = np.zeros(num_classes, np.int64)
  images, labels = [], []
  for batch in data.load(name, split=split, batch_size=256, resolution=resolution,
                         channels=channels, seed=seed, data_dir=data_dir,
                         center_crop=center_crop, repeat=False, drop_remainder=False,
                         process_index=0, process_count=1):
    if "label" not in batch:
      raise ValueError(f"dataset {name!r} has no labels to keep")
    for image, label in zip(batch["image"], batch["label"]):
      if not 0 <= label < num_classes:
        raise ValueError(f"label {label} of {name!r} is outside num_classes={num_classes}")
      if counts[label] < per_class:
        counts[label] += 1
        images.append(image)
        labels.append(label)
    if counts.min() == per_class:
      break
  short = np.flatnonzero(counts < per_class)
  if short.size:
    raise ValueError(f"{name!r} split {split!r} has only {counts[short[0]]} examples of "
                     f"class {short[0]}; {per_class} must keep labels")
  return np.stack(images).astype(np.float32), np.asarray(labels, np.int32)


def labeled_batches(images, labels, *, batch_size: int, seed=0) -> Iterator[dict]:
  """Endless {'labeled_image': (B, ...), 'labeled_label': (B,)} batches.

  Cycles through the examples in a fresh seeded permutation per epoch; a batch
  larger than the subset holds some examples twice. Deterministic for a seed.
  """
  rng = np.random.default_rng(seed)  # An int or a tuple of ints.
  order = np.zeros((0,), np.int64)
  while True:
    while len(order) < batch_size:
      order = np.concatenate([order, rng.permutation(len(labels))])
    idx, order = order[:batch_size], order[batch_size:]
    yield {"labeled_image": images[idx], "labeled_label": labels[idx]}


def with_labeled_batches(unlabeled: Iterator[dict], labeled: Iterator[dict]) -> Iterator[dict]:
  """Zips the unlabelled stream (its labels dropped) with the labelled one."""
  for batch, extra in zip(unlabeled, labeled):
    yield {"image": batch["image"], **extra}


def semi_supervised_batches(unlabeled: Iterator[dict], config, *, local_batch_size: int,
                            process_index: int = 0) -> Iterator[dict]:
  """`unlabeled` batches joined with this process's share of the labelled stream.

  `local_batch_size` is this process's share of `config.labeled_batch_size`;
  each process draws its own labelled batches (seeded by seed and process).
  """
  images, labels = labeled_subset(
      config.dataset, split=config.train_split, num_labeled=config.num_labeled,
      num_classes=config.num_classes, resolution=config.resolution,
      channels=config.channels, seed=config.seed, data_dir=config.data_dir or None,
      center_crop=config.center_crop or None)
  stream = labeled_batches(images, labels, batch_size=local_batch_size,
                           seed=(config.seed, process_index))
  return with_labeled_batches(unlabeled, stream)

"""The input pipeline: any TFDS image dataset as numpy batches in [-1, 1].

    batches = load('digits', split='train', batch_size=64, resolution=32)
    batch = next(batches)  # {'image': float32 [64, 32, 32, 1], 'label': int32 [64]}

Steps, per process: read this process's shard of the split (files shuffled with the seed),
centre-crop, resize, convert channels, shuffle, repeat, batch, scale to [-1, 1], prefetch.
Images stay uint8 until they are batched, so the shuffle buffer holds a quarter of the bytes
that float32 images would need; the resized image is rounded to uint8 once, which is the
precision the source images have anyway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from ganjax.data import folder
from ganjax.data.prepare import prepared_builder

SHUFFLE_BUFFER = 10_000
# ITU-R BT.601 luma, the weights `tf.image.rgb_to_grayscale` and PIL's "L" mode use.
_LUMA = (0.2989, 0.5870, 0.1140)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a training job needs to know about an image dataset.

  Attributes:
    name: the TFDS name, e.g. 'mnist' or 'digits'.
    num_examples: examples per split, e.g. {'train': 1497, 'test': 300}.
    image_shape: (height, width, channels) as stored; None where sizes vary.
    num_classes: classes of the `label` feature, or None if there is none.
  """

  name: str
  num_examples: dict[str, int]
  image_shape: tuple[int | None, int | None, int | None]
  num_classes: int | None


def info(name: str, *, data_dir: str | None = None) -> DatasetInfo:
  """Describes dataset `name`, preparing it in `data_dir` first if needed.

  Raises:
    DatasetNotFoundError: it is not prepared in `data_dir` and cannot be downloaded.
    UnknownDatasetError: TFDS knows no dataset of that name.
  """
  root = folder.find(name, data_dir)
  if root is not None:
    return folder.info(root)
  tfds_info = prepared_builder(name, data_dir).info
  image = _image_feature(name, tfds_info)
  label = tfds_info.features["label"] if "label" in tfds_info.features.keys() else None
  return DatasetInfo(
      name=name,
      num_examples={s: int(split.num_examples) for s, split in tfds_info.splits.items()},
      image_shape=tuple(image.shape),
      num_classes=getattr(label, "num_classes", None),
  )


def load(
    name: str,
    *,
    split: str,
    batch_size: int,
    resolution: int,
    channels: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    shuffle: bool = True,
    repeat: bool = True,
    drop_remainder: bool = True,
    center_crop: int | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    with_labels: bool = True,
) -> Iterator[dict[str, np.ndarray]]:
  """Batches of dataset `name` for this process: images in [-1, 1], labels as int32.

  Args:
    name: a TFDS image dataset ('mnist', 'fashion_mnist', 'cifar10', 'celeb_a', ...),
      ganjax's offline 'digits', or a folder of images (a path, or a folder in
      `data_dir`: see ganjax.data.folder). Prepared in `data_dir` on first use if it can be.
    split: a TFDS split, sub-splits included ('train', 'test[:10%]', 'train+test').
    batch_size: examples per batch in this process (the local batch).
    resolution: side of the square output images; bilinear resize with antialiasing.
    channels: 1 or 3 to convert (RGB to gray by luma, gray to RGB by tiling); None keeps
      the dataset's channels.
    seed: seeds file order and the shuffle; a given seed gives the same batches.
    data_dir: TFDS data directory; None for TFDS's default (~/tensorflow_datasets).
    shuffle: shuffle files and examples.
    repeat: cycle through the split forever (a fresh shuffle each epoch).
    drop_remainder: drop a final partial batch.
    center_crop: crop the central `center_crop` square before resizing (e.g. 140 for
      celeb_a's 218x178 faces).
    process_index, process_count: read shard `process_index` of `process_count` even
      shards of `split`; default `jax.process_index()` and `jax.process_count()`.
    with_labels: include 'label' where the dataset has a `label` feature.

  Returns:
    An iterator of {'image': float32 [batch_size, resolution, resolution, C],
    'label': int32 [batch_size]} ('label' only with labels).

  Raises:
    DatasetNotFoundError: it is not prepared in `data_dir` and cannot be downloaded.
    UnknownDatasetError: TFDS knows no dataset of that name.
    ValueError: bad arguments, or a dataset without a uint8 `image` feature.
  """
  _check_positive(batch_size=batch_size, resolution=resolution)
  if channels not in (None, 1, 3):
    raise ValueError(f"channels must be None, 1 or 3, got {channels}")
  if center_crop is not None:
    _check_positive(center_crop=center_crop)
  if process_index is None or process_count is None:
    import jax  # Imported late: only the default shard needs it.

    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ValueError(f"need 0 <= process_index < process_count, got {process_index}, "
                     f"{process_count}")

  root = folder.find(name, data_dir)
  if root is not None:
    ds = folder.load(root, split=split, batch_size=batch_size, resolution=resolution,
                     channels=channels, seed=seed, shuffle=shuffle, repeat=repeat,
                     drop_remainder=drop_remainder, center_crop=center_crop,
                     process_index=process_index, process_count=process_count,
                     with_labels=with_labels)
    return iter(tfds.as_numpy(ds))

  builder = prepared_builder(name, data_dir)
  image = _image_feature(name, builder.info)
  height, width, source_channels = image.shape
  if channels is not None and source_channels not in (1, 3):
    raise ValueError(f"cannot convert {name!r} images with {source_channels} channels")
  if center_crop is not None and None not in (height, width) and center_crop > min(height, width):
    raise ValueError(f"center_crop={center_crop} exceeds {name!r} images of {height}x{width}")
  keep_label = with_labels and "label" in builder.info.features.keys()

  if process_count > 1:
    split = tfds.even_splits(split, n=process_count)[process_index]
  ds = builder.as_dataset(
      split=split,
      shuffle_files=shuffle,
      read_config=tfds.ReadConfig(shuffle_seed=seed),
  )

  def preprocess(example):
    out = {"image": _to_square(example["image"], resolution, center_crop, channels,
                               source_channels)}
    if keep_label:
      out["label"] = tf.cast(example["label"], tf.int32)
    return out

  ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
  if shuffle:
    ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
  return iter(tfds.as_numpy(batched(ds, batch_size, repeat=repeat,
                                    drop_remainder=drop_remainder)))


def batched(ds, batch_size: int, *, repeat: bool, drop_remainder: bool) -> tf.data.Dataset:
  """The pipeline's tail, for TFDS and folders alike: repeat, batch, scale to [-1, 1],
  prefetch, deterministic order."""
  if repeat:
    ds = ds.repeat()
  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  ds = ds.map(_scale, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)


def load_split(name: str, split: str, *, resolution: int, channels: int | None,
               data_dir: str | None = None, center_crop: int | None = None,
               limit: int | None = None, batch_size: int = 1000):
  """(images float32 (N, R, R, C) in [-1, 1], labels int32 (N,) or None) of a whole split.

  Preprocessed exactly as for training (`load`), in file order, on one process, at most
  `limit` examples.
  """
  batches = load(name, split=split, batch_size=batch_size, resolution=resolution,
                 channels=channels, data_dir=data_dir, center_crop=center_crop,
                 shuffle=False, repeat=False, drop_remainder=False, process_index=0,
                 process_count=1)
  images, labels, n = [], [], 0
  for batch in batches:
    images.append(batch["image"])
    if "label" in batch:
      labels.append(batch["label"])
    n += len(batch["image"])
    if limit is not None and n >= limit:
      break
  images = np.concatenate(images)[:limit]
  labels = np.concatenate(labels)[:limit] if labels else None
  return images, labels


def _check_positive(**values: int) -> None:
  for key, value in values.items():
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"{key} must be a positive int, got {value!r}")


def _image_feature(name: str, tfds_info) -> tfds.features.Image:
  features = tfds_info.features
  image = features["image"] if "image" in features.keys() else None
  if not isinstance(image, tfds.features.Image) or image.np_dtype != np.uint8:
    raise ValueError(f"dataset {name!r} has no uint8 'image' feature to train on")
  return image


def _to_square(image, resolution, center_crop, channels, source_channels):
  """uint8 [H, W, C] -> uint8 [resolution, resolution, channels or C]."""
  if center_crop is not None:
    shape = tf.shape(image)
    image = tf.image.crop_to_bounding_box(
        image, (shape[0] - center_crop) // 2, (shape[1] - center_crop) // 2,
        center_crop, center_crop)
  image = tf.cast(image, tf.float32)
  if channels == 1 and source_channels == 3:  # Before resizing: a third of the work.
    image = tf.reduce_sum(image * tf.constant(_LUMA), axis=-1, keepdims=True)
  if tuple(image.shape[:2]) != (resolution, resolution):  # Also when sizes vary (None).
    image = tf.image.resize(image, (resolution, resolution), method="bilinear",
                            antialias=True)
  image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
  if channels == 3 and source_channels == 1:
    image = tf.tile(image, (1, 1, 3))
  return image


def _scale(batch):
  """uint8 0..255 -> float32 -1..1, once per batch."""
  return {**batch, "image": tf.cast(batch["image"], tf.float32) / 127.5 - 1.0}

"""A folder of your own images as a dataset, through the same pipeline as TFDS's.

    --config.dataset=/path/to/images            # a path to a folder
    --config.dataset=myimages --config.data_dir=/path/to   # or a folder inside data_dir

Layouts (files: any format PIL reads, any size; found by extension, see IMAGE_EXTENSIONS):

    images/*.png                      one class: no labels
    images/<class>/*.png              a class per subfolder, labels 0..K-1 in name order
    images/train/..., images/test/... splits, each laid out as above

Without train/ and test/ every image is in split 'train' (and 'test' is an error). Each
image is read with PIL and converted to the config's channels (PIL's 'L' or 'RGB':
alpha dropped, palettes expanded, 16-bit scaled down), cropped to its central square (or to
`center_crop`), then resized like a TFDS image. Every file's header is read once when the
dataset is opened, so an unreadable file is one clear error naming it before training
starts. Each process reads every process_count-th file of the sorted list.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from ganjax.data.prepare import DatasetNotFoundError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SPLITS = ("train", "test")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


class ImageFolderError(DatasetNotFoundError):
  """A folder of images cannot be read as a dataset (one line naming the file or folder)."""


@dataclasses.dataclass(frozen=True)
class Split:
  """The files of one split, their labels (None: one class) and the class names."""

  files: tuple[str, ...]
  labels: tuple[int, ...] | None
  classes: tuple[str, ...]


def find(name: str, data_dir: str | None) -> str | None:
  """The folder `name` names (a path, or a folder of images in data_dir), else None."""
  path = os.path.expanduser(name)
  # A folder of images here (a TFDS name such as cycle_gan/horse2zebra has a '/' too, and a
  # TFDS data folder holds no images).
  if os.path.isdir(path) and _has_images(path):
    return os.path.abspath(path)
  if name.startswith((os.sep, "~", ".")):  # Only a path starts so.
    if not os.path.isdir(path):
      raise ImageFolderError(f"dataset {name!r} looks like a path, but there is no folder "
                             f"{os.path.abspath(path)}")
    return os.path.abspath(path)
  if data_dir:
    path = os.path.join(data_dir, name)
    # TFDS keeps <data_dir>/<name>/<version>/ folders with no images of their own.
    if os.path.isdir(path) and _has_images(path):
      return os.path.abspath(path)
  return None


def _image_files(folder: str) -> list[str]:
  return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))


def _subfolders(folder: str) -> list[str]:
  return sorted(f for f in os.listdir(folder)
                if os.path.isdir(os.path.join(folder, f)) and not f.startswith("."))


def _has_images(folder: str) -> bool:
  return bool(_image_files(folder)) or any(
      _has_images(os.path.join(folder, s)) for s in _subfolders(folder))


def _has_splits(root: str) -> bool:
  return "train" in _subfolders(root)


def scan(root: str, split: str = "train") -> Split:
  """The files of `split` in `root`; ImageFolderError for a layout ganjax cannot read."""
  if split not in SPLITS:
    raise ImageFolderError(f"an image folder has the splits {', '.join(SPLITS)}, not "
                           f"{split!r}")
  folder = root
  if _has_splits(root):
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
      raise ImageFolderError(f"{root} has no {split}/ folder")
  elif split != "train":
    raise ImageFolderError(f"{root} has no train/ and {split}/ folders: all its images are "
                           f"split 'train'")
  files, classes = _image_files(folder), _subfolders(folder)
  classes = [c for c in classes if _image_files(os.path.join(folder, c))]
  if files and classes:
    raise ImageFolderError(f"{folder} mixes images with class subfolders ({classes[0]}/...): "
                           f"put every image in a class folder, or none")
  if not files and not classes:
    raise ImageFolderError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder} or its "
                           f"subfolders")
  if files:
    return Split(tuple(files), None, ())
  paths, labels = [], []
  for k, c in enumerate(classes):
    class_files = _image_files(os.path.join(folder, c))
    paths += class_files
    labels += [k] * len(class_files)
  return Split(tuple(paths), tuple(labels), tuple(classes))


def _verified_modes(files) -> list[str]:
  modes = []
  for path in files:
    try:
      with Image.open(path) as im:
        modes.append(im.mode)
    except Exception as e:  # noqa: BLE001  (PIL raises several types for one meaning)
      raise ImageFolderError(f"cannot read image {path}: {e}") from None
  return modes


def channels_of(modes) -> int:
  """1 if every image is grayscale, else 3: the channels a folder keeps by default."""
  return 1 if all(m in _GRAY_MODES for m in modes) else 3


def read(path: str, *, channels: int, center_crop: int | None) -> np.ndarray:
  """One image as uint8 (S, S, channels): converted, then cropped to its central square."""
  with Image.open(path) as im:
    if im.mode in ("I", "I;16", "F"):  # 16-bit or float gray: to 8 bits by its own range.
      a = np.asarray(im, np.float64)
      im = Image.fromarray(np.uint8(np.clip(a * 255.0 / max(a.max(), 1.0), 0, 255)))
    image = np.asarray(im.convert("L" if channels == 1 else "RGB"))
  if image.ndim == 2:
    image = image[..., None]
  h, w = image.shape[:2]
  side = min(h, w) if center_crop is None else center_crop
  if side > min(h, w):
    raise ImageFolderError(f"center_crop={center_crop} exceeds the {h}x{w} image {path}")
  top, left = (h - side) // 2, (w - side) // 2
  return np.ascontiguousarray(image[top:top + side, left:left + side])


def info(root: str):
  """A DatasetInfo of the folder (image_shape: sizes vary, channels as kept by default)."""
  from ganjax.data.pipeline import DatasetInfo
  splits = {s: scan(root, s) for s in (SPLITS if _has_splits(root) else ("train",))}
  train = splits["train"]
  return DatasetInfo(name=root, num_examples={s: len(v.files) for s, v in splits.items()},
                     image_shape=(None, None, channels_of(_verified_modes(train.files[:64]))),
                     num_classes=len(train.classes) or None)


def load(root: str, *, split: str, batch_size: int, resolution: int, channels: int | None,
         seed: int, shuffle: bool, repeat: bool, drop_remainder: bool,
         center_crop: int | None, process_index: int, process_count: int,
         with_labels: bool) -> tf.data.Dataset:
  """Batches of the folder, as ganjax.data.load gives a TFDS dataset's (see its Args)."""
  from ganjax.data.pipeline import _to_square, batched  # The same steps as for TFDS.
  data = scan(root, split)
  modes = _verified_modes(data.files)
  channels = channels or channels_of(modes)
  files = list(data.files[process_index::process_count])
  labels = list(data.labels[process_index::process_count]) if data.labels else None
  if not files:
    raise ImageFolderError(f"{root} has {len(data.files)} {split} images: too few for "
                           f"{process_count} processes")
  keep_label = with_labels and labels is not None
  ds = tf.data.Dataset.from_tensor_slices(
      {"path": files, **({"label": np.asarray(labels, np.int32)} if keep_label else {})})
  if shuffle:
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

  def load_one(path):
    return read(path.decode(), channels=channels, center_crop=center_crop)

  def preprocess(example):
    image = tf.numpy_function(load_one, [example["path"]], tf.uint8, stateful=False)
    image.set_shape((None, None, channels))
    out = {"image": _to_square(image, resolution, None, channels, channels)}
    if keep_label:
      out["label"] = example["label"]
    return out

  ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
  return batched(ds, batch_size, repeat=repeat, drop_remainder=drop_remainder)

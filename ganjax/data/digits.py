"""`digits`: scikit-learn's bundled 8x8 handwritten digits as a TFDS dataset.

The one dataset ganjax can prepare with no network: `sklearn.datasets.load_digits` reads
a file that ships inside scikit-learn. Importing `ganjax.data` registers the builder, so
`tfds.builder('digits')` and `ganjax.data.load('digits', ...)` find it by name; it prepares
itself into the data_dir on first use.

Split: fixed and stratified. Within each class, the `TEST_PER_CLASS` = 30 examples whose
index (in `load_digits` order) has the smallest SHA-256 digest go to `test`; the rest go to
`train`. That gives 1,497 train / 300 test with exactly 30 test images per class, and it
depends on no random number generator, so no library version can change it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow_datasets as tfds

NUM_CLASSES = 10
TEST_PER_CLASS = 30

_DESCRIPTION = """\
Handwritten digits 0-9 as 8x8 grayscale images, 1,797 in all: the copy of the test set of
UCI's "Optical Recognition of Handwritten Digits" that scikit-learn bundles
(`sklearn.datasets.load_digits`). Each pixel counts the "on" pixels of a 4x4 block of the
original 32x32 bitmap (0..16); here it is scaled to 0..255 as round(v * 255 / 16).
Split: within each class, the 30 examples whose index has the smallest SHA-256 digest
form `test` (300), the rest `train` (1,497).
"""

_CITATION = """\
@misc{alpaydin1998digits,
  author       = {Alpaydin, E. and Kaynak, C.},
  title        = {Optical Recognition of Handwritten Digits},
  year         = {1998},
  howpublished = {UCI Machine Learning Repository},
  doi          = {10.24432/C50P49},
}
"""

_HOMEPAGE = "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"


def to_uint8(counts: np.ndarray) -> np.ndarray:
  """Scales `load_digits` pixel counts (0..16) to uint8 0..255, rounding half up."""
  counts = np.asarray(counts).astype(np.int64)
  return ((counts * 255 + 8) // 16).astype(np.uint8)


def held_out_indices(labels: np.ndarray) -> np.ndarray:
  """Sorted indices of the test split: per class, the `TEST_PER_CLASS` smallest digests."""
  labels = np.asarray(labels)
  digest = [hashlib.sha256(f"digits:{i}".encode()).hexdigest() for i in range(len(labels))]
  chosen = []
  for label in range(NUM_CLASSES):
    members = np.flatnonzero(labels == label)
    chosen.extend(sorted(members, key=digest.__getitem__)[:TEST_PER_CLASS])
  return np.sort(np.asarray(chosen, dtype=np.int64))


class Digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's 8x8 handwritten digits (Alpaydin & Kaynak, 1998), prepared offline."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release: 1,497 train / 300 test, stratified."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(8, 8, 1), dtype=np.uint8),
                "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
            }
        ),
        supervised_keys=("image", "label"),
        homepage=_HOMEPAGE,
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships inside scikit-learn.
    from sklearn.datasets import load_digits  # Slow import; only needed to prepare.

    digits = load_digits()
    images = to_uint8(digits.images)[..., None]
    labels = digits.target.astype(np.int64)
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[held_out_indices(labels)] = True
    return {
        "train": self._generate_examples(images, labels, np.flatnonzero(~is_test)),
        "test": self._generate_examples(images, labels, np.flatnonzero(is_test)),
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {"image": images[i], "label": int(labels[i])}

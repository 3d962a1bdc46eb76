"""Input pipelines over TFDS image datasets, and the offline datasets ganjax ships.

    from ganjax import data
    data.info('digits')              # DatasetInfo(name='digits', num_examples={...}, ...)
    batches = data.load('digits', split='train', batch_size=64, resolution=32)

Importing this package registers the offline `digits` builder with TFDS and hides every GPU
from TensorFlow: TensorFlow only runs tf.data here, and the accelerators belong to JAX.
"""

import os

# TensorFlow's C++ start-up banners (oneDNN, log init) would bury ganjax's own messages.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tensorflow as tf  # noqa: E402


def _hide_gpus_from_tensorflow() -> None:
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:  # TensorFlow already initialised its devices; too late to hide.
    from absl import logging

    logging.warning("ganjax.data: TensorFlow was initialised first and may use the GPU")


_hide_gpus_from_tensorflow()

from ganjax.data import digits  # noqa: E402  (registers the `digits` builder)
from ganjax.data.pipeline import DatasetInfo, info, load, load_split  # noqa: E402
from ganjax.data.prepare import DatasetNotFoundError, UnknownDatasetError  # noqa: E402

__all__ = [
    "DatasetInfo",
    "DatasetNotFoundError",
    "UnknownDatasetError",
    "digits",
    "info",
    "load",
    "load_split",
]

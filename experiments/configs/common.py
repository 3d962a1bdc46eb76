"""What the experiment configs share: base_config and the datasets the variants name.

Each experiment's config file starts from `base_config(family)` (the loop's fields
and the family's own, defined in ganjax.config and the family's file) and
overrides a few fields. Configs are
locked by the entry points, so `--config.nmu_steps=10` (a typo) is an error
that names the key.
"""

import ml_collections

from ganjax.config import base_config  # noqa: F401  (the configs call common.base_config)

# name -> (TFDS dataset, resolution, channels, centre crop or 0)
DATASETS = {
    "digits": ("digits", 16, 1, 0),
    "mnist": ("mnist", 32, 1, 0),
    "fashion_mnist": ("fashion_mnist", 32, 1, 0),
    "cifar10": ("cifar10", 32, 3, 0),
    "celeb_a": ("celeb_a", 64, 3, 140),
}


def parse_variant(arg: str | None, valid) -> str:
  """`--config=file.py:VARIANT` -> VARIANT, checked against `valid`."""
  variant = arg or valid[0]
  if variant not in valid:
    raise ValueError(f"unknown config variant {variant!r}; valid: {', '.join(valid)}")
  return variant


def set_dataset(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  c.dataset, c.resolution, c.channels, c.center_crop = DATASETS[name]
  return c

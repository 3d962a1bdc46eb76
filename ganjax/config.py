"""Configs: the fields every run has, plus the fields its family declares.

`base_config(family)` is where an experiment config starts (experiments/configs
override a few fields); `from_saved(fields)` rebuilds the config of a saved run
(ganjax.restore), including runs saved before families had names.

A field lives in exactly one place: the loop's fields here (`LOOP_FIELDS`), the
fields of the z -> x image families in ganjax.families.base (`ZX_FIELDS`), and
each family's own in its file (`Family.FIELDS`).
"""

import ml_collections


class ConfigError(ValueError):
  """A config field has a value ganjax cannot use."""


def _loop_fields() -> dict:
  """The fields the loop, the optimizers and the input pipeline read, for every family."""
  return dict(
      family="gan",                 # a name of ganjax.families.FAMILIES
      # Optimizers (ganjax.families.base.build_optimizers).
      optimizer=ml_collections.ConfigDict(dict(
          name="adam",              # adam | rmsprop
          g_learning_rate=2e-4,     # the generator's learning rate
          d_learning_rate=2e-4,     # the discriminator's (critic's) learning rate
          b1=0.5,                   # Adam's beta1 (rmsprop: unused)
          b2=0.999,                 # Adam's beta2 (rmsprop: its decay)
          schedule="constant",      # constant | linear (to 0) | constant_then_linear | halving
          halve_every=0,            # schedule halving: generator steps between halvings
      )),
      d_steps=1,                    # discriminator updates per generator update
      compute_dtype="float32",      # float32 | bfloat16 (z -> x families): params stay float32
      ema_decay=0.0,                # > 0 keeps an EMA of the generator for samples (e.g. 0.999)
      # Data.
      dataset="digits",             # a TFDS name, a folder of images, or what the family reads
      train_split="train",          # the split trained on (TFDS syntax: 'train[:90%]')
      data_dir="",                  # "" = TFDS's default (~/tensorflow_datasets)
      resolution=16,                # side of the square images trained on
      channels=1,                   # 1 (gray) or 3 (RGB): images are converted to it
      center_crop=0,                # side of a central square crop before resizing; 0 = none
      batch_size=64,                # global, over all devices and processes
      # Loop.
      num_steps=2000,               # generator updates to train for
      seed=0,                       # seeds the parameters, the noise and the data order
      log_every=50,                 # steps between metrics.jsonl rows and progress lines
      sample_every=500,             # steps between sample grids (samples/step_*.png)
      checkpoint_every=500,         # steps between checkpoints (and at the end)
      keep_checkpoints=3,           # the newest checkpoints kept on disk
      num_sample_images=64,         # images in each sample grid
      warm_start="",                # a work directory whose newest networks start this run
      warm_start_networks="",       # ... which of them, comma-separated ("" = all); fresh optimizers
  )


LOOP_FIELDS = tuple(_loop_fields())


def base_config(family: str = "gan") -> ml_collections.ConfigDict:
  """A fresh ConfigDict of every field of `family` at its default."""
  from ganjax import families  # The registry imports the families, which import this module.
  fam = families.get(family)
  c = ml_collections.ConfigDict(_loop_fields())
  c.family = family
  for name, value in fam.fields().items():
    c[name] = value
  return c


# Before families had names (ganjax <= stop 9), `objective` named cgan/acgan/sgan as well
# as the step kinds, and every config carried every field.
_LEGACY_FAMILY_OBJECTIVES = ("cgan", "acgan", "sgan")
_LEGACY_MIXTURES = ("ring", "grid")


def family_of_saved(fields: dict) -> str:
  """The family of a saved config.json's fields, also for runs saved before `family` existed."""
  if "family" in fields:
    return fields["family"]
  if fields.get("objective") in _LEGACY_FAMILY_OBJECTIVES:
    return fields["objective"]
  if fields.get("dataset") in _LEGACY_MIXTURES:
    return "mixture"
  return "gan"


def from_saved(fields: dict) -> ml_collections.ConfigDict:
  """The config of a saved run: its family's defaults, then the saved values.

  A run saved before families had names carries fields its family no longer has
  (every config had every field): those are dropped. Fields added since the run
  was saved keep their defaults.
  """
  fields = dict(fields)
  family = family_of_saved(fields)
  legacy = "family" not in fields
  if legacy and fields.get("objective") in _LEGACY_FAMILY_OBJECTIVES:
    del fields["objective"]   # It named the family; the step kind is now its own field.
  config = base_config(family)
  for name, value in fields.items():
    if name not in config:
      if legacy:
        continue
      raise ConfigError(f"saved config field {name!r} is not a field of family {family!r}")
    if isinstance(value, list):  # JSON has no tuples.
      value = tuple(value)
    if isinstance(config[name], ml_collections.ConfigDict):
      config[name].update(value)
    else:
      config[name] = value
  return config

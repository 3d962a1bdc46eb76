"""GAN families, one file each, and the registry: the only place a family name is looked up.

    from ganjax import families
    family = families.get("cgan")          # or families.of(config)
    state = family.create_state(config, jax.random.key(0))
    state, metrics = jax.jit(family.step(config))(state, batch, rng)

Each family file holds everything that makes the family itself: its config
fields and checks, its networks and state, its step(s), the batches it needs,
its sampler and sample grid, and its evaluation sections (the interface is
ganjax.families.base.Family).

Adding a GAN family
-------------------
1. its architectures under `ganjax/models/` if they are new;
2. `ganjax/families/<name>.py`: a `Family` subclass and `FAMILY = <Name>()`;
3. one line in `FAMILIES` below;
4. `experiments/configs/<name>.py` (`get_config(arg)` starting from
   `ganjax.config.base_config("<name>")`) and the six-line `experiments/<name>.py`.

Nothing in ganjax/train.py, evaluate.py, restore.py or the other entry points
changes: they call the family's methods.
"""

import importlib

# family name -> the module holding its FAMILY.
FAMILIES = {
    "gan": "ganjax.families.gan",          # GAN, DCGAN, LSGAN, WGAN, WGAN-GP, hinge, FM
    "mixture": "ganjax.families.mixture",  # the 2-D mixture benchmark of mode collapse
    "cgan": "ganjax.families.cgan",
    "acgan": "ganjax.families.acgan",
    "sgan": "ganjax.families.sgan",
    "pix2pix": "ganjax.families.pix2pix",  # paired image-to-image translation
    "cyclegan": "ganjax.families.cyclegan",  # unpaired translation, cycle consistency
    "discogan": "ganjax.families.discogan",  # unpaired translation, feature matching
    "stackgan": "ganjax.families.stackgan",  # text -> image in two stages
}


def get(name: str):
  """The Family registered as `name`; ConfigError naming the valid ones otherwise."""
  if name not in FAMILIES:
    from ganjax.config import ConfigError
    raise ConfigError(f"unknown family {name!r}; valid: {', '.join(FAMILIES)}")
  return importlib.import_module(FAMILIES[name]).FAMILY


def of(config):
  """The Family of `config` (its `family` field)."""
  return get(config.family)

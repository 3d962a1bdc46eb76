"""DiscoGAN (Kim et al. 2017): encoder-decoder generators, DCGAN discriminators, feature
matching and the authors' reconstruction curriculum.

  python -m experiments.discogan --config=experiments/configs/discogan.py          # thin <-> bold
  python -m experiments.discogan --config=experiments/configs/discogan.py:rotate   # upright <-> 90 deg
  python -m experiments.discogan --config=experiments/configs/discogan.py:invert
  python -m experiments.discogan --config=experiments/configs/discogan.py:font
  python -m experiments.discogan --config=experiments/configs/discogan.py:folder \
      --config.folder=/data/edges2shoes_unpaired              # trainA/ trainB/ testA/ testB/

The authors' setting is 64x64, batch 64, D updated on every third iteration and the
reconstruction weight r raised from 0.01 to 0.5 after 10,000 iterations; the digits
variants scale the curriculum to their shorter runs (`gan_curriculum`).
"""

from experiments.configs import common

VARIANTS = ("bold", "rotate", "invert", "font", "folder")


def get_config(arg=None):
  variant = common.parse_variant(arg, VARIANTS)
  c = common.base_config("discogan")
  c.batch_size = 64
  if variant == "folder":
    c.dataset, c.channels, c.resolution, c.load_size = "folder", 3, 64, 64
    c.num_steps = 50000
    c.sample_every = c.checkpoint_every = 2000
    return c
  c.dataset = f"digits_{variant}"
  c.channels, c.resolution, c.load_size = 1, 32, 32
  # Width 16 and batch 16 (the authors': 64 and 64, for 64 px photos): about 2 minutes on
  # 2 CPU cores; the curriculum's switch to r = 0.5 after a third of the run.
  c.width = 16
  c.batch_size = 16
  c.num_steps = 1500
  c.gan_curriculum = 500
  c.sample_every = c.checkpoint_every = 500
  c.log_every = 100
  return c

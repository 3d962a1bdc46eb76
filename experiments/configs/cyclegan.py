"""CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs, LSGAN + cycle + identity.

  python -m experiments.cyclegan --config=experiments/configs/cyclegan.py          # thin <-> bold
  python -m experiments.cyclegan --config=experiments/configs/cyclegan.py:rotate   # upright <-> 90 deg
  python -m experiments.cyclegan --config=experiments/configs/cyclegan.py:invert   # a smoke test
  python -m experiments.cyclegan --config=experiments/configs/cyclegan.py:font     # hand <-> font
  python -m experiments.cyclegan --config=experiments/configs/cyclegan.py:folder \
      --config.folder=/data/horse2zebra                       # trainA/ trainB/ testA/ testB/
  python -m experiments.cyclegan --config=experiments/configs/cyclegan.py:horse2zebra \
      --config.data_dir=/data/tfds                            # TFDS cycle_gan/horse2zebra

The digits variants run offline on the shipped digits (A and B from disjoint halves of
the train split). `folder` and `horse2zebra` are the paper's setting: 256x256, jitter
286 -> 256 with flips, batch 1, 9 residual blocks. Override any field, e.g. the paper's
ablations: `--config.cycle_weight_b=0` (forward cycle only), `--config.identity_weight=0`,
`--config.pool_size=0`, `--config.cycle_weight_a=0 --config.cycle_weight_b=0` (GAN alone).
"""

from experiments.configs import common

VARIANTS = ("bold", "rotate", "invert", "font", "folder", "horse2zebra")


def get_config(arg=None):
  variant = common.parse_variant(arg, VARIANTS)
  c = common.base_config("cyclegan")
  c.optimizer.schedule = "constant_then_linear"  # As the reference: constant, then to 0.
  if variant in ("folder", "horse2zebra"):
    c.dataset = "folder" if variant == "folder" else "cycle_gan/horse2zebra"
    c.channels, c.resolution, c.load_size, c.flip = 3, 256, 286, True
    c.batch_size = 1
    c.num_steps = 200 * 1334  # 200 epochs of horse2zebra's larger domain (1,334 horses)
    c.sample_every = c.checkpoint_every = 5000
    return c
  # Digits (748 + 749 unpaired train images, 32x32): jitter 36 -> 32, no flips.
  c.dataset = f"digits_{variant}"
  c.channels, c.resolution, c.load_size, c.flip = 1, 32, 36, False
  # ngf = ndf = 16 (the paper's 64 is for 256 px photos) and the reference's batch of one:
  # about 2 minutes on 2 CPU cores.
  c.width = c.d_width = 16
  c.batch_size = 1
  c.num_steps = 1500
  c.sample_every = c.checkpoint_every = 500
  c.log_every = 100
  return c

"""pix2pix (Isola et al. 2017): U-Net G, PatchGAN D, cGAN + 100 x L1, on paired images.

  python -m experiments.pix2pix --config=experiments/configs/pix2pix.py          # edges -> digit
  python -m experiments.pix2pix --config=experiments/configs/pix2pix.py:halves   # left half -> digit
  python -m experiments.pix2pix --config=experiments/configs/pix2pix.py:superres # 4x4 -> 32x32
  python -m experiments.pix2pix --config=experiments/configs/pix2pix.py:aligned \
      --config.folder=/data/facades                                            # 256x256, as the paper

The digits tasks run offline on the shipped digits (train/test split fixed). `aligned`
reads pix2pix's own folder format: FOLDER/train/*.jpg and FOLDER/test/*.jpg, each image A
and B side by side (facades, maps, edges2shoes, ...); `--config.direction=BtoA` swaps them.

Override any field: `--config.d_layers=1 --config.l1_weight=0 --config.test_mode=eval`.
"""

from experiments.configs import common

VARIANTS = ("edges", "halves", "superres", "aligned")


def get_config(arg=None):
  variant = common.parse_variant(arg, VARIANTS)
  c = common.base_config("pix2pix")
  c.optimizer.schedule = "constant_then_linear"  # As the reference: constant, then to 0.
  if variant == "aligned":
    # The paper's facades setting: 256x256, jitter 286 -> 256 with flips, batch 1.
    c.dataset, c.channels = "aligned", 3
    c.resolution, c.load_size, c.flip = 256, 286, True
    c.batch_size = 1
    c.num_steps = 80000  # 200 epochs of facades' 400 pairs
    c.sample_every = c.checkpoint_every = 2000
    return c
  # Digits (1,497 train pairs, 32x32): jitter 36 -> 32, no flips (digits are not symmetric).
  c.dataset = f"digits_{variant}"
  c.channels, c.resolution, c.load_size, c.flip = 1, 32, 36, False
  c.width = c.d_width = 32
  c.batch_size = 16
  c.num_steps = 3000
  c.sample_every = c.checkpoint_every = 500
  c.log_every = 100
  return c

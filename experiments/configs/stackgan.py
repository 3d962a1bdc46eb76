"""StackGAN (Zhang et al. 2017): text -> 16 px (Stage I) -> 32 px (Stage II) on captioned digits.

  python -m experiments.stackgan --config=experiments/configs/stackgan.py           # both stages
  python -m experiments.stackgan --config=experiments/configs/stackgan.py:stage1    # Stage I only
  python -m experiments.stackgan --config=experiments/configs/stackgan.py:stage2 \
      --config.stage1_workdir=workdirs/stackgan_stage1                  # on a trained Stage I
  python -m experiments.stackgan --config=experiments/configs/stackgan.py:folder \
      --config.folder=/data/birds --config.stage1_steps=60000            # your captioned images

The default trains Stage I in <workdir>/stage1, then Stage II in <workdir> (one command; a
rerun resumes the stage that was interrupted). Then:

  python -m experiments.sample --workdir=workdirs/stackgan_captioned_digits \
      --caption="a large slanted three" --caption="a small two in the top left"

The paper's ablations: `--config.augment=False` (no conditioning augmentation),
`--config.mismatched_pairs=False` (D never sees a real image with a wrong caption).
"""

from experiments.configs import common

VARIANTS = ("both", "stage1", "stage2", "folder")


def get_config(arg=None):
  variant = common.parse_variant(arg, VARIANTS)
  c = common.base_config("stackgan")
  c.batch_size = 64
  c.optimizer.schedule = "halving"  # As the reference: both rates halved on a schedule.
  c.log_every = 100
  c.sample_every = c.checkpoint_every = 500
  if variant == "folder":  # The paper's birds/flowers setting: 64 px, then 256 px.
    c.dataset, c.channels = "folder", 3
    c.stage, c.stage1_resolution, c.resolution = 2, 64, 256
    c.width, c.d_width, c.condition_dim, c.res_blocks, c.downsamplings = 128, 64, 128, 4, 2
    c.stage1_steps = c.num_steps = 60000
    c.optimizer.halve_every = 12000
    c.sample_every = c.checkpoint_every = 2000
    return c
  # Captioned digits (5,988 train images): 16 px, then 32 px.
  c.stage1_resolution = 16
  c.stage1_steps = 1500
  c.optimizer.halve_every = 1000
  if variant == "stage1":
    c.stage, c.resolution, c.num_steps = 1, 16, 1500
  else:
    c.stage, c.resolution, c.num_steps = 2, 32, 1500
  return c

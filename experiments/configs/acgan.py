"""ACGAN (Odena et al. 2017): D answers real/fake AND which class; G is class-conditional.

  python -m experiments.acgan --config=experiments/configs/acgan.py             # digits, DCGAN
  python -m experiments.acgan --config=experiments/configs/acgan.py:digits_mlp  # digits, MLPs (8x8)
  python -m experiments.acgan --config=experiments/configs/acgan.py:mnist       # 32x32, DCGAN
  python -m experiments.acgan --config=experiments/configs/acgan.py:cifar10     # 32x32 RGB

Samples are a class grid (row = class, column = one z); `python -m
experiments.evaluate --workdir=...` adds conditional_accuracy.
"""

from experiments.configs import cgan, common

VARIANTS = cgan.VARIANTS


def get_config(arg=None):
  variant = common.parse_variant(arg, VARIANTS)
  return cgan.configure(common.base_config("acgan"), variant)

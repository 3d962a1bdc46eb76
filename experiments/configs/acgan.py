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
  c = cgan.get_config(variant)
  c.objective = "acgan"
  c.class_loss_weight = 1.0       # w: the class cross-entropy's weight, on both sides
  c.d_input_noise = 0.0           # std of Gaussian noise on D's input (train only)
  c.d_hidden_noise = 0.0          # MLP: std of Gaussian noise on D's hidden layers
  c.d_dropout = 0.0               # dropout on D's hidden layers
  return c

"""LSGAN (Mao et al. 2017): the DCGAN networks with least-squares losses.

  python -m experiments.lsgan --config=experiments/configs/lsgan.py            # digits, offline
  python -m experiments.lsgan --config=experiments/configs/lsgan.py:mnist      # 32x32
  python -m experiments.lsgan --config=experiments/configs/lsgan.py:cifar10    # 32x32 RGB

The discriminator outputs a raw score (no sigmoid); D pushes real scores to b
and fake ones to a, G pushes fake scores to c. The targets (a, b, c) default to
(0, 1, 1); the (-1, 1, 0) coding, which minimises a Pearson chi^2 divergence:

  python -m experiments.lsgan --config.least_squares_labels="(-1.0, 1.0, 0.0)"

Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017,
https://arxiv.org/abs/1611.04076.
"""

from experiments.configs import dcgan

VARIANTS = dcgan.VARIANTS


def get_config(arg=None):
  c = dcgan.get_config(arg)
  c.loss = "least_squares"
  c.least_squares_labels = (0.0, 1.0, 1.0)
  c.drs_keep = 1.0  # Rejection sampling reads a logistic D's logit: this D has none.
  c.info_categories = 0  # The paper's networks: no InfoGAN code (the DCGAN default's).
  # The paper trains with Adam 2e-4, beta1 0.5: DCGAN's settings, kept.
  return c

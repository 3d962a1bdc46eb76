"""WGAN-GP (Gulrajani et al. 2017): the Wasserstein loss with a gradient penalty.

  python -m experiments.wgan_gp --config=experiments/configs/wgan_gp.py          # digits
  python -m experiments.wgan_gp --config=experiments/configs/wgan_gp.py:mnist    # 32x32
  python -m experiments.wgan_gp --config=experiments/configs/wgan_gp.py:cifar10  # 32x32 RGB

Algorithm 1 of the paper: lambda = 10, 5 critic updates per generator update,
Adam with learning rate 1e-4 and betas (0.0, 0.9). The penalty is per example,
so the critic has no BatchNorm: layer normalisation, as the paper recommends
(`--config.d_normalization=none` also works; `batch` is refused).

Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017,
https://arxiv.org/abs/1704.00028.
"""

from experiments.configs import dcgan

VARIANTS = dcgan.VARIANTS


def get_config(arg=None):
  c = dcgan.get_config(arg)
  c.objective = "gradient_penalty"
  c.loss = "wasserstein"
  c.drs_keep = 1.0  # Rejection sampling reads a logistic D's logit: this D has none.
  c.info_categories = 0  # The paper's networks: no InfoGAN code (the DCGAN default's).
  c.gp_weight = 10.0
  c.d_steps = 5
  c.d_normalization = "layer"
  c.optimizer.name = "adam"
  c.optimizer.g_learning_rate = c.optimizer.d_learning_rate = 1e-4
  c.optimizer.b1, c.optimizer.b2 = 0.0, 0.9
  return c

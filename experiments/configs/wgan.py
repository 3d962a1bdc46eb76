"""WGAN (Arjovsky et al. 2017): a weight-clipped critic and the Wasserstein loss.

  python -m experiments.wgan --config=experiments/configs/wgan.py            # digits, offline
  python -m experiments.wgan --config=experiments/configs/wgan.py:mnist      # 32x32
  python -m experiments.wgan --config=experiments/configs/wgan.py:cifar10    # 32x32 RGB

Algorithm 1 of the paper: 5 critic updates per generator update, each
followed by clipping every critic parameter to [-0.01, 0.01]; RMSProp with
learning rate 5e-5 for both networks. The critic is DCGAN's discriminator
(BatchNorm is allowed with clipping), its output a raw score.

Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017,
https://arxiv.org/abs/1701.07875.
"""

from experiments.configs import dcgan

VARIANTS = dcgan.VARIANTS


def get_config(arg=None):
  c = dcgan.get_config(arg)
  c.objective = "weight_clipping"
  c.loss = "wasserstein"
  c.drs_keep = 1.0  # Rejection sampling reads a logistic D's logit: this D has none.
  c.info_categories = 0  # The paper's networks: no InfoGAN code (the DCGAN default's).
  c.weight_clip = 0.01
  c.d_steps = 5
  c.optimizer.name = "rmsprop"
  c.optimizer.g_learning_rate = c.optimizer.d_learning_rate = 5e-5
  return c

"""The vanilla GAN: multilayer-perceptron generator and discriminator.

Goodfellow et al. 2014, "Generative Adversarial Nets", https://arxiv.org/abs/1406.2661.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np


class MLPGenerator(nn.Module):
  """z (B, latent_dim) -> image (B, H, W, C) in [-1, 1].

  Dense layers with LeakyReLU, a tanh output reshaped to `output_shape`.
  """

  output_shape: Sequence[int]  # (H, W, C)
  hidden: Sequence[int] = (256, 256)
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, z, train: bool = True):
    del train  # No BatchNorm: same in both modes.
    x = z
    for width in self.hidden:
      x = nn.leaky_relu(nn.Dense(width)(x), self.negative_slope)
    x = nn.Dense(int(np.prod(self.output_shape)))(x)
    return jnp.tanh(x).reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """image (B, ...) -> logit (B,).

  The last hidden activation is sown as `intermediates/features` for the
  feature-matching loss (Salimans et al. 2016).
  """

  hidden: Sequence[int] = (256, 256)
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train
    x = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      x = nn.leaky_relu(nn.Dense(width)(x), self.negative_slope)
    self.sow("intermediates", "features", x)
    return nn.Dense(1)(x)[:, 0]

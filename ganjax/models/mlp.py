"""The vanilla GAN: multilayer-perceptron generator and discriminator.

Goodfellow et al. 2014, "Generative Adversarial Nets", https://arxiv.org/abs/1406.2661.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from ganjax import layers, packing


class MLPGenerator(nn.Module):
  """z (B, latent_dim) -> image (B, H, W, C) in [-1, 1], or points (B, D).

  Dense layers with LeakyReLU, an output reshaped to `output_shape`: tanh for
  images in [-1, 1]; `output_activation="linear"` for unbounded data (the 2-D
  mixture benchmark's points).
  """

  output_shape: Sequence[int]  # (H, W, C), or (D,) for points
  hidden: Sequence[int] = (256, 256)
  negative_slope: float = 0.2
  output_activation: str = "tanh"  # tanh | linear

  @nn.compact
  def __call__(self, z, train: bool = True):
    del train  # No BatchNorm: same in both modes.
    x = z
    for width in self.hidden:
      x = nn.leaky_relu(nn.Dense(width)(x), self.negative_slope)
    x = nn.Dense(int(np.prod(self.output_shape)))(x)
    if self.output_activation == "tanh":
      x = jnp.tanh(x)
    elif self.output_activation != "linear":
      raise ValueError(f"output_activation must be tanh or linear, "
                       f"got {self.output_activation!r}")
    return x.reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """image or point (B, ...) -> logit (B,).

  The last hidden activation is sown as `intermediates/features` for the
  feature-matching loss (Salimans et al. 2016). Mode-collapse switches, off by
  default: `pack` = m > 1 judges m examples concatenated (PacGAN), one logit
  per pack, (B / m,); `minibatch_kernels` > 0 appends minibatch-discrimination
  features (Salimans et al. 2016) to the last hidden layer; `spectral_norm` normalises
  every dense layer's kernel by its largest singular value (Miyato et al. 2018).
  """

  hidden: Sequence[int] = (256, 256)
  negative_slope: float = 0.2
  pack: int = 1
  minibatch_kernels: int = 0
  minibatch_kernel_dim: int = 5
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    x = packing.pack(x.reshape((x.shape[0], -1)), self.pack)
    for width in self.hidden:
      x = nn.leaky_relu(layers.spectral(nn.Dense(width), self.spectral_norm, train)(x),
                        self.negative_slope)
    self.sow("intermediates", "features", x)
    if self.minibatch_kernels:
      x = layers.MinibatchDiscrimination(self.minibatch_kernels, self.minibatch_kernel_dim)(x)
    return layers.spectral(nn.Dense(1), self.spectral_norm, train)(x)[:, 0]

"""Discriminator bodies without an output layer, for discriminators with other heads.

The vanilla and DCGAN discriminators end in one real/fake logit; ACGAN
(acgan.py) puts a class head beside it and the semi-supervised GAN (sgan.py)
replaces it with K class logits. These modules are the shared part: image ->
feature vector (B, F), the same layers as mlp.py and dcgan.py, plus the
regularisers a discriminator that is also a classifier needs (Salimans et al.
2016 add Gaussian noise to every layer of their semi-supervised MNIST
discriminator; Odena 2016 uses dropout). Noise and dropout draw from the
'dropout' RNG stream and are only on with `train=True`.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax import layers
from ganjax.models import dcgan


def gaussian_noise(module: nn.Module, x, std: float, train: bool):
  """x + N(0, std^2) in training, x otherwise."""
  if not train or std <= 0:
    return x
  return x + std * jax.random.normal(module.make_rng("dropout"), x.shape, x.dtype)


class MLPFeatures(nn.Module):
  """x (B, ...) -> (B, hidden[-1]): dense layers with LeakyReLU, as MLPDiscriminator.

  `input_noise` and `hidden_noise` add Gaussian noise of that std to the input
  and to each hidden layer's output; `dropout` drops each hidden unit;
  `spectral_norm` normalises every dense kernel (see `layers.spectral`).
  """

  hidden: Sequence[int] = (256, 256)
  negative_slope: float = 0.2
  input_noise: float = 0.0
  hidden_noise: float = 0.0
  dropout: float = 0.0
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    x = gaussian_noise(self, x.reshape((x.shape[0], -1)), self.input_noise, train)
    for width in self.hidden:
      dense = layers.spectral(nn.Dense(width), self.spectral_norm, train)
      x = nn.leaky_relu(dense(x), self.negative_slope)
      x = gaussian_noise(self, x, self.hidden_noise, train)
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return x


class ConvFeatures(nn.Module):
  """image (B, R, R, C) -> (B, 4 * 4 * F): DCGANDiscriminator up to its last convolution.

  The output is the flattened 4x4 map that DCGAN's final 4x4 convolution reads
  (that convolution is a dense layer on it). `dropout` is applied after every
  block; `input_noise` adds Gaussian noise to the image; `spectral_norm` normalises
  every convolution's kernel (see `layers.spectral`).
  """

  resolution: int = 64
  width: int = 64
  normalization: str = "batch"
  negative_slope: float = 0.2
  input_noise: float = 0.0
  dropout: float = 0.0
  spectral_norm: bool = False

  def _norm(self, train: bool):
    if self.normalization == "batch":
      return dcgan.batch_norm(train)
    if self.normalization == "layer":
      return nn.LayerNorm(epsilon=1e-5)
    if self.normalization == "none":
      return lambda x: x
    raise ValueError(
        f"normalization must be one of {dcgan.NORMALIZATIONS}, got {self.normalization!r}")

  @nn.compact
  def __call__(self, x, train: bool = True):
    n = dcgan.num_stages(self.resolution)
    if x.shape[1:3] != (self.resolution, self.resolution):
      raise ValueError(
          f"discriminator expects {self.resolution}x{self.resolution} images, got {x.shape}")
    x = gaussian_noise(self, x, self.input_noise, train)
    for i in range(n):
      conv = nn.Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                     use_bias=False, kernel_init=dcgan.conv_init)
      x = layers.spectral(conv, self.spectral_norm, train)(x)
      if i > 0:  # No normalisation on the input layer, as in DCGAN.
        x = self._norm(train)(x)
      x = nn.leaky_relu(x, self.negative_slope)
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return x.reshape((x.shape[0], -1))

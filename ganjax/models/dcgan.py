"""DCGAN: the all-convolutional generator and discriminator.

Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", https://arxiv.org/abs/1511.06434.

No pooling, strided convolutions, BatchNorm (not on the generator's output nor
the discriminator's input), ReLU in G, LeakyReLU 0.2 in D, tanh output, weights
drawn from N(0, 0.02) and BatchNorm scales from N(1, 0.02). At 64x64 with nz=100
and 64 filters this is exactly the network of the paper and of PyTorch's example:
3,576,704 generator and 2,765,568 discriminator parameters.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax import layers, packing

RESOLUTIONS = (16, 32, 64, 128)
UPSAMPLING = ("transposed", "resize")
OUTPUTS = ("tanh", "linear")
NORMALIZATIONS = ("batch", "layer", "none")



def _flat_normal(key, shape, dtype):
  # The same values as jax.random.normal(key, shape, dtype) (the draw is flat and then
  # reshaped either way), but XLA:CPU compiles a draw of one flat axis ~5x faster than one
  # of a 4-D kernel shape (0.2 s vs 1 s each): it was most of a 64x64 DCGAN's time to
  # first step.
  return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


def conv_init(key, shape, dtype=jnp.float32):
  """Convolution kernels ~ N(0, 0.02), as in the DCGAN paper's code."""
  return 0.02 * _flat_normal(key, shape, dtype)


def scale_init(key, shape, dtype=jnp.float32):
  """BatchNorm scale ~ N(1, 0.02), as in the DCGAN paper's code."""
  return 1.0 + 0.02 * _flat_normal(key, shape, dtype)


def num_stages(resolution: int) -> int:
  """Number of 2x stages between 4x4 and `resolution`."""
  if resolution not in RESOLUTIONS:
    raise ValueError(f"DCGAN resolution must be one of {RESOLUTIONS}, got {resolution}")
  return int(math.log2(resolution)) - 2


def info_code_of(z, categories: int):
  """c = argmax of z's first `categories` coordinates, int32 (B,).

  Uniform over the categories for z ~ N(0, I), and a function of z: a generator with a
  categorical code (InfoGAN) still maps z alone to an image, so every sampler, latent tool
  and rejection sampler keeps its z -> x interface.
  """
  return jnp.argmax(z[:, :categories], axis=-1).astype(jnp.int32)


def batch_norm(train: bool):
  # PyTorch's momentum 0.1 is flax's 0.9 (flax weighs the old average).
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      scale_init=scale_init)


class DCGANGenerator(nn.Module):
  """z (B, latent_dim) -> image (B, resolution, resolution, channels) in [-1, 1].

  `upsample` picks how each 2x stage grows the image: "transposed" (a 4x4,
  stride-2 transposed convolution, the paper's choice, computed in its fast
  exact sub-pixel form) or "resize" (nearest-neighbour upsampling then a 3x3
  convolution, which avoids checkerboard artifacts: Odena et al. 2016,
  https://distill.pub/2016/deconv-checkerboard/).

  `output` is "tanh" (the paper) or "linear": no squashing while training, so a pixel
  reaches the data's exact -1 and 1 (which tanh only approaches), and D's loss keeps the
  values in range; in inference mode (train=False) the image is clipped to [-1, 1].

  `info_categories` K > 0 gives G InfoGAN's categorical code (Chen et al. 2016): one-hot(c)
  joins z, c = `info_code` (training passes the code it drew) or else info_code_of(z, K).
  """

  resolution: int = 64
  channels: int = 3
  width: int = 64
  upsample: str = "transposed"
  output: str = "tanh"
  info_categories: int = 0

  def _up(self, features: int):
    if self.upsample == "transposed":
      return layers.ConvTranspose4x4S2(features, use_bias=False, kernel_init=conv_init)
    if self.upsample == "resize":
      return layers.ResizeConv(features, use_bias=False, kernel_init=conv_init)
    raise ValueError(f"upsample must be one of {UPSAMPLING}, got {self.upsample!r}")

  @nn.compact
  def __call__(self, z, train: bool = True, info_code=None):
    n = num_stages(self.resolution)
    if self.info_categories:
      k = self.info_categories
      code = info_code_of(z, k) if info_code is None else info_code
      z = jnp.concatenate([z, jax.nn.one_hot(code, k, dtype=z.dtype)], axis=-1)
    x = z.reshape((z.shape[0], 1, 1, z.shape[-1]))
    # 1x1 -> 4x4: a 4x4 transposed convolution, i.e. a dense layer to a 4x4 map.
    x = nn.ConvTranspose(self.width * 2 ** (n - 1), (4, 4), padding="VALID",
                         use_bias=False, kernel_init=conv_init)(x)
    x = nn.relu(batch_norm(train)(x))
    for i in range(n - 1):
      x = self._up(self.width * 2 ** (n - 2 - i))(x)
      x = nn.relu(batch_norm(train)(x))
    x = self._up(self.channels)(x)
    if self.output == "tanh":
      return jnp.tanh(x)
    if self.output == "linear":
      return x if train else jnp.clip(x, -1.0, 1.0)
    raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")


class DCGANDiscriminator(nn.Module):
  """image (B, resolution, resolution, C) -> logit (B,).

  `normalization`: "batch" (the paper), "layer" or "none" (WGAN-GP's critic
  must not use BatchNorm: the penalty is per example). The features before the
  last convolution are sown as `intermediates/features` for feature matching.

  Mode-collapse switches, off by default (the paper's network): `pack` = m > 1
  judges m images stacked on the channel axis (PacGAN), one logit per pack,
  (B / m,); `minibatch_kernels` > 0 appends minibatch-discrimination features
  (Salimans et al. 2016) to the last features, and a dense layer replaces the
  last 4x4 convolution (the same map on a 4x4 input) to read them. `spectral_norm`
  normalises every convolution's kernel by its largest singular value (Miyato et al.
  2018). `info_categories` K > 0 adds InfoGAN's Q head, a dense layer from the last
  features to K logits, sown as `intermediates/info_logits` (the logit stays D's output).
  """

  resolution: int = 64
  width: int = 64
  normalization: str = "batch"
  negative_slope: float = 0.2
  pack: int = 1
  minibatch_kernels: int = 0
  minibatch_kernel_dim: int = 5
  spectral_norm: bool = False
  info_categories: int = 0

  def _norm(self, train: bool):
    if self.normalization == "batch":
      return batch_norm(train)
    if self.normalization == "layer":
      return nn.LayerNorm(epsilon=1e-5)
    if self.normalization == "none":
      return lambda x: x
    raise ValueError(
        f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")

  @nn.compact
  def __call__(self, x, train: bool = True):
    n = num_stages(self.resolution)
    if x.shape[1:3] != (self.resolution, self.resolution):
      raise ValueError(
          f"discriminator expects {self.resolution}x{self.resolution} images, got {x.shape}")
    x = packing.pack(x, self.pack)
    for i in range(n):
      # nn.Conv(4x4, stride 2, padding 1) with gradients XLA:CPU runs fast; named as
      # nn.Conv would be, so the parameter tree (and checkpoints) do not change.
      x = layers.spectral(layers.Conv4x4S2(self.width * 2 ** i, use_bias=False,
                                           kernel_init=conv_init, name=f"Conv_{i}"),
                          self.spectral_norm, train)(x)
      if i > 0:  # No normalisation on the input layer (paper, section 3).
        x = self._norm(train)(x)
      x = nn.leaky_relu(x, self.negative_slope)
      if i > 0:  # DiscoGAN's feature matching reads every normalised layer.
        self.sow("intermediates", f"layer{i}", x)
    self.sow("intermediates", "features", x.reshape((x.shape[0], -1)))
    if self.info_categories:  # InfoGAN's Q head: the categorical code's logits.
      q = layers.spectral(nn.Dense(self.info_categories, kernel_init=conv_init, name="info"),
                          self.spectral_norm, train)(x.reshape((x.shape[0], -1)))
      self.sow("intermediates", "info_logits", q)
    if self.minibatch_kernels:
      x = layers.MinibatchDiscrimination(self.minibatch_kernels, self.minibatch_kernel_dim)(x)
      return layers.spectral(nn.Dense(1, use_bias=False, kernel_init=conv_init),
                             self.spectral_norm, train)(x)[:, 0]
    x = layers.spectral(nn.Conv(1, (4, 4), padding="VALID", use_bias=False,
                                kernel_init=conv_init, name=f"Conv_{n}"),
                        self.spectral_norm, train)(x)
    return x.reshape((x.shape[0],))

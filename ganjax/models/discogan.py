"""DiscoGAN's generator (its discriminator is the DCGAN discriminator).

Kim, Cha, Kim, Lee & Kim 2017, "Learning to Discover Cross-Domain Relations with
Generative Adversarial Networks", https://arxiv.org/abs/1703.05192, as in the
authors' code (SKTBrain/DiscoGAN, discogan/model.py): an encoder-decoder without
skip connections,

    encoder: 4x4 stride-2 convolutions C64-C128-C256-C512 down to 4x4, BatchNorm
             (not on the first), LeakyReLU 0.2;
    decoder: 4x4 stride-2 transposed convolutions back up, BatchNorm and ReLU
             (not on the last), then tanh (the authors' sigmoid, for images in [-1, 1]);

no biases, weights N(0, 0.02). At 64x64 (the paper) that is 4 levels down and up;
a resolution R has log2(R) - 2 levels.
"""

import flax.linen as nn
import jax.numpy as jnp

from ganjax import layers
from ganjax.models.dcgan import batch_norm, conv_init, num_stages


class DiscoGANGenerator(nn.Module):
  """image (B, R, R, Cin) -> image (B, R, R, channels) in [-1, 1]; R in 16, 32, 64, 128.

  Attributes:
    channels: output channels.
    width: filters of the first level (64 in the paper), doubling per level.
  """

  channels: int = 3
  width: int = 64

  @nn.compact
  def __call__(self, x, train: bool = True):
    n = num_stages(x.shape[-2])
    for i in range(n):
      x = layers.Conv4x4S2(self.width * 2 ** i, kernel_init=conv_init, name=f"down{i}")(x)
      if i > 0:
        x = batch_norm(train)(x)
      x = nn.leaky_relu(x, 0.2)
    for i in reversed(range(n - 1)):
      x = layers.ConvTranspose4x4S2(self.width * 2 ** i, kernel_init=conv_init,
                                    name=f"up{i + 1}")(x)
      x = nn.relu(batch_norm(train)(x))
    x = layers.ConvTranspose4x4S2(self.channels, kernel_init=conv_init, name="up0")(x)
    return jnp.tanh(x)

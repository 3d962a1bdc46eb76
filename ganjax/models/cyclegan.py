"""CycleGAN's ResNet generator (its discriminator is pix2pix's PatchGAN).

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", https://arxiv.org/abs/1703.10593, as in
the authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py:
ResnetGenerator, ResnetBlock), after Johnson et al. 2016:

    c7s1-64, d128, d256, R256 x n, u128, u64, c7s1-C, tanh

c7s1-k: reflection padding 3, a 7x7 convolution of k filters, norm, ReLU; dk: a 3x3
stride-2 convolution, norm, ReLU; Rk: a residual block of two reflection-padded 3x3
convolutions (norm, ReLU, conv, norm) added to its input; uk: a 3x3 stride-1/2
transposed convolution (PyTorch's padding 1, output_padding 1: exactly 2x), norm,
ReLU. n = 6 residual blocks at 128x128 or less, 9 above (the paper's choice).
Instance norm without learned scale or shift, so every convolution keeps its bias;
weights N(0, 0.02) as the reference's init_weights('normal').
"""

import flax.linen as nn
import jax.numpy as jnp

from ganjax import layers
from ganjax.models.dcgan import conv_init
from ganjax.models.pix2pix import _norm


def default_res_blocks(resolution: int) -> int:
  """The reference's choice: 6 residual blocks up to 128x128 (resnet_6blocks), 9 above."""
  return 6 if resolution <= 128 else 9


def reflect_pad(x, pad: int):
  """Reflection padding of the two spatial axes of (B, H, W, C) (PyTorch's ReflectionPad2d)."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class ResNetGenerator(nn.Module):
  """image (B, R, R, Cin) -> image (B, R, R, channels) in [-1, 1]; R a multiple of 4.

  Attributes:
    channels: output channels.
    width: filters of the first layer (ngf, 64 in the paper); 2x and 4x after the
      two downsamplings.
    res_blocks: residual blocks at R/4 (6 or 9 in the paper).
    normalization: 'instance' (the paper) or 'batch'.
  """

  channels: int = 3
  width: int = 64
  res_blocks: int = 6
  normalization: str = "instance"

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.normalization == "instance"  # No bias before a BatchNorm, as the reference.

    def conv(h, features, kernel, name, *, use_bias=bias):  # Stride 1, padded by the caller.
      return nn.Conv(features, (kernel, kernel), padding="VALID", use_bias=use_bias,
                     kernel_init=conv_init, name=name)(h)

    def norm_relu(h):
      return nn.relu(_norm(self.normalization, train)(h))

    x = norm_relu(conv(reflect_pad(x, 3), self.width, 7, "c7_in"))
    for i in (1, 2):  # PyTorch's Conv2d(k=3, s=2, padding=1), fast on CPU.
      x = norm_relu(layers.Conv3x3S2(self.width * 2 ** i, use_bias=bias, kernel_init=conv_init,
                                     name=f"down{i}")(x))
    for i in range(self.res_blocks):
      h = norm_relu(conv(reflect_pad(x, 1), self.width * 4, 3, f"res{i}_a"))
      h = _norm(self.normalization, train)(conv(reflect_pad(h, 1), self.width * 4, 3,
                                                f"res{i}_b"))
      x = x + h
    for i in (2, 1):
      # PyTorch's ConvTranspose2d(k=3, s=2, padding=1, output_padding=1), fast on CPU.
      x = norm_relu(layers.ConvTranspose3x3S2(self.width * 2 ** (i - 1), use_bias=bias,
                                              kernel_init=conv_init, name=f"up{i}")(x))
    x = conv(reflect_pad(x, 3), self.channels, 7, "c7_out", use_bias=True)
    return jnp.tanh(x)

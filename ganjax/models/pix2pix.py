"""pix2pix: the U-Net generator and the PatchGAN discriminator.

Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", https://arxiv.org/abs/1611.07004, as in the authors'
PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py:
UnetGenerator, NLayerDiscriminator, PixelDiscriminator): 4x4 stride-2
convolutions, weights N(0, 0.02), norm scales N(1, 0.02), no bias before a
BatchNorm (a bias is kept with instance norm, which has no shift of its own).

The U-Net goes down to 1x1 (depth log2(resolution): 8 at 256, 7 at 128, 5 at
32), C64-C128-C256-C512-C512...; every decoder level is concatenated with its
encoder twin; dropout 0.5 in three decoder blocks is G's only noise (the paper
drops z: G learned to ignore it). The decoder upsamples with 4x4 stride-2 transposed
convolutions, as the paper, or (`upsample="resize"`) with a nearest 2x resize and a 3x3
convolution, which cannot draw checkerboard artifacts (Odena et al. 2016).

The PatchGAN classifies every N x N patch of concat(source, image): n_layers
0, 1, 2, 3 give receptive fields 1 ("PixelGAN"), 16, 34 and 70 pixels (the
paper's default), one logit per patch.
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from ganjax import layers
from ganjax.models.dcgan import UPSAMPLING, batch_norm, conv_init

NORMALIZATIONS = ("batch", "instance")


def unet_depth(resolution: int) -> int:
  """Downsamplings from `resolution` to 1x1; ValueError unless a power of two >= 8."""
  if resolution < 8 or resolution & (resolution - 1):
    raise ValueError(f"the U-Net halves the image down to 1x1: resolution must be a power "
                     f"of two >= 8 (e.g. 32, 64, 256), got {resolution}")
  return int(math.log2(resolution))


def receptive_field(n_layers: int) -> int:
  """The side of the patch one PatchGAN logit sees; n_layers >= 4 extends the recursion."""
  if n_layers == 0:
    return 1
  rf = 1 + 3 + 3  # The two stride-1 4x4 layers at the end.
  for _ in range(n_layers):
    rf = 2 * rf + 2  # A 4x4 stride-2 layer before them.
  return rf


def _norm(kind: str, train: bool):
  if kind == "batch":
    return batch_norm(train)
  # InstanceNorm2d(affine=False) of the reference: per image and channel, nothing learned.
  return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)


class UNetGenerator(nn.Module):
  """source (B, R, R, Cin) -> image (B, R, R, channels) in [-1, 1].

  Attributes:
    channels: output channels.
    width: filters of the outermost level (ngf, 64 in the paper); level i has
      width * min(2^i, 8).
    normalization: 'batch' (the paper) or 'instance'.
    dropout_blocks: decoder blocks right above the innermost with dropout 0.5
      (3 in the paper); 0 makes G deterministic.
    upsample: how every decoder level doubles the image (`UPSAMPLING`):
      'transposed' (a 4x4 stride-2 transposed convolution, the paper) or 'resize'
      (nearest 2x, then a 3x3 convolution: no checkerboard artifacts, Odena, Dumoulin
      & Olah 2016, https://distill.pub/2016/deconv-checkerboard/). The layers keep
      their names (up{i}, up0); only the kernels' shape differs (3x3 for 4x4).
  """

  channels: int
  width: int = 64
  normalization: str = "batch"
  dropout_blocks: int = 3
  upsample: str = "transposed"

  def _up(self, features: int, *, use_bias: bool, name: str):
    if self.upsample == "transposed":
      return layers.ConvTranspose4x4S2(features, use_bias=use_bias, kernel_init=conv_init,
                                       name=name)
    if self.upsample == "resize":
      return layers.ResizeConv(features, use_bias=use_bias, kernel_init=conv_init, name=name)
    raise ValueError(f"upsample must be one of {UPSAMPLING}, got {self.upsample!r}")

  @nn.compact
  def __call__(self, source, train: bool = True):
    depth = unet_depth(source.shape[-2])
    if source.shape[-3] != source.shape[-2]:
      raise ValueError(f"the U-Net takes square images, got {source.shape[-3:-1]}")
    bias = self.normalization == "instance"
    widths = [self.width * min(2 ** i, 8) for i in range(depth)]

    # Encoder: level 0 is a bare conv; the innermost (depth - 1) has no norm.
    skips, x = [], source
    for i, w in enumerate(widths):
      if i:
        x = nn.leaky_relu(x, 0.2)
      x = layers.Conv4x4S2(w, use_bias=bias, kernel_init=conv_init, name=f"down{i}")(x)
      if 0 < i < depth - 1:
        x = _norm(self.normalization, train)(x)
      skips.append(x)

    # Decoder: each level back up, concatenated with its encoder twin.
    x = skips.pop()
    for i in reversed(range(1, depth)):
      x = nn.relu(x)
      x = self._up(widths[i - 1], use_bias=bias, name=f"up{i}")(x)
      x = _norm(self.normalization, train)(x)
      if depth - 1 - self.dropout_blocks <= i < depth - 1:  # Not the innermost's own up.
        x = nn.Dropout(0.5, deterministic=not train)(x)
      x = jnp.concatenate([skips.pop(), x], axis=-1)
    x = nn.relu(x)
    x = self._up(self.channels, use_bias=True, name="up0")(x)
    return jnp.tanh(x)


class PatchGANDiscriminator(nn.Module):
  """(B, H, W, C) -> one logit per patch (B, h, w, 1); the receptive field is n_layers'.

  The reference's NLayerDiscriminator (n_layers >= 1) and PixelDiscriminator
  (n_layers = 0: 1x1 convolutions only). pix2pix feeds it concat(source, image).

  Attributes:
    n_layers: 0..3 give patches of 1, 16, 34, 70 pixels (`receptive_field`).
    width: filters of the first layer (ndf, 64 in the paper).
    normalization: 'batch' (the paper) or 'instance'.
    spectral_norm: every convolution's kernel over its largest singular value
      (`layers.spectral`; the normalization layers stay as `normalization` says).
  """

  n_layers: int = 3
  width: int = 64
  normalization: str = "batch"
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.normalization == "instance"
    lrelu = lambda h: nn.leaky_relu(h, 0.2)  # noqa: E731
    sn = lambda layer: layers.spectral(layer, self.spectral_norm, train)  # noqa: E731
    if self.n_layers == 0:  # PixelGAN: every pixel judged on its own.
      x = lrelu(sn(nn.Conv(self.width, (1, 1), kernel_init=conv_init, name="conv0"))(x))
      x = sn(nn.Conv(2 * self.width, (1, 1), use_bias=bias, kernel_init=conv_init,
                     name="conv1"))(x)
      x = lrelu(_norm(self.normalization, train)(x))
      return sn(nn.Conv(1, (1, 1), use_bias=bias, kernel_init=conv_init, name="logits"))(x)
    x = lrelu(sn(layers.Conv4x4S2(self.width, use_bias=True, kernel_init=conv_init,
                                  name="conv0"))(x))
    for n in range(1, self.n_layers):
      x = sn(layers.Conv4x4S2(self.width * min(2 ** n, 8), use_bias=bias, kernel_init=conv_init,
                              name=f"conv{n}"))(x)
      x = lrelu(_norm(self.normalization, train)(x))
    x = sn(layers.Conv4x4S1(self.width * min(2 ** self.n_layers, 8), use_bias=bias,
                            kernel_init=conv_init, name=f"conv{self.n_layers}"))(x)
    x = lrelu(_norm(self.normalization, train)(x))
    return sn(layers.Conv4x4S1(1, use_bias=True, kernel_init=conv_init, name="logits"))(x)


def min_patchgan_resolution(n_layers: int) -> int:
  """The smallest image a PatchGAN of n_layers still gives at least one logit for."""
  # n_layers halvings, then two 4x4 stride-1 pad-1 convolutions (each takes 1 pixel off).
  return 1 if n_layers == 0 else 2 ** n_layers * 3

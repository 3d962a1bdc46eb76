"""Reusable Flax layers for GAN generators and discriminators (NHWC).

- `ConvTranspose4x4S2`: the DCGAN 2x upsampling layer (kernel 4, stride 2), computed
  exactly as four 2x2 "phase" convolutions whose outputs are interleaved. Same
  parameters and values as `flax.linen.ConvTranspose`, but its gradient is an ordinary
  convolution rather than an input-dilated one, which XLA on CPU runs ~20x faster.
- `ConvTranspose3x3S2`: CycleGAN's upsampling layer (kernel 3, stride 2, PyTorch's
  padding 1 and output_padding 1), as one matrix product of the four shifted inputs
  followed by depth-to-space: same parameters and values as `flax.linen.ConvTranspose`,
  25x faster on CPU with its gradient.
- `torch_conv_transpose_weight_to_flax`: maps a PyTorch `ConvTranspose2d` weight to the
  flax kernel layout.
- `ResizeConv`: nearest-neighbour upsampling followed by a stride-1 convolution, the
  checkerboard-free alternative to a transposed convolution.
- `MinibatchDiscrimination`: the discriminator layer that lets each example see how
  similar it is to the rest of the batch.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

Array = jax.Array
Dtype = Any
Initializer = jax.nn.initializers.Initializer
PrecisionLike = Any

# The same defaults as flax.linen.Conv / ConvTranspose, so that swapping in these layers
# leaves a model's initial parameters unchanged.
default_kernel_init = nn.initializers.lecun_normal()
default_bias_init = nn.initializers.zeros_init()

_NHWC = ("NHWC", "HWIO", "NHWC")


def torch_conv_transpose_weight_to_flax(weight: Any) -> np.ndarray:
  """Maps a PyTorch `ConvTranspose2d` weight to a `flax.linen.ConvTranspose` kernel.

  PyTorch stores the weight as (Cin, Cout, kh, kw) and scatters every input pixel
  through it; flax (``transpose_kernel=False``) correlates the stride-dilated input with
  an unflipped (kh, kw, Cin, Cout) kernel. The two agree when the kernel is the torch
  weight transposed to (kh, kw, Cin, Cout) and flipped in both spatial axes::

      kernel[a, b, i, o] = weight[i, o, kh - 1 - a, kw - 1 - b]

  With that kernel, ``ConvTranspose2d(Cin, Cout, k, stride=s, padding=p)`` equals
  ``nn.ConvTranspose(Cout, (k, k), strides=(s, s), padding=((k-1-p, k-1-p),) * 2)``;
  for k=4, s=2, p=1 that is padding ((2, 2), (2, 2)) (or, equivalently, 'SAME'), i.e.
  `ConvTranspose4x4S2`. The bias needs no mapping.

  Args:
    weight: array-like of shape (Cin, Cout, kh, kw), e.g. ``w.detach().cpu().numpy()``.

  Returns:
    A numpy array of shape (kh, kw, Cin, Cout).
  """
  weight = np.asarray(weight)
  if weight.ndim != 4:
    raise ValueError(f"expected a (Cin, Cout, kh, kw) weight, got shape {weight.shape}")
  return np.ascontiguousarray(np.flip(weight.transpose(2, 3, 0, 1), axis=(0, 1)))


def flax_conv_transpose_kernel_to_torch(kernel: Any) -> np.ndarray:
  """Inverse of `torch_conv_transpose_weight_to_flax`.

  Maps a (kh, kw, Cin, Cout) flax kernel to a (Cin, Cout, kh, kw) torch weight.
  """
  kernel = np.asarray(kernel)
  if kernel.ndim != 4:
    raise ValueError(f"expected a (kh, kw, Cin, Cout) kernel, got shape {kernel.shape}")
  return np.ascontiguousarray(np.flip(kernel, axis=(0, 1)).transpose(2, 3, 0, 1))


def _flatten_batch(x: Array, num_spatial: int = 2) -> tuple[Array, tuple[int, ...]]:
  """Folds all leading batch axes of (*batch, H, W, C) into one, as flax's convs do."""
  batch_shape = x.shape[: x.ndim - num_spatial - 1]
  return x.reshape((-1,) + x.shape[x.ndim - num_spatial - 1 :]), batch_shape


# ------------------------------------------------------------- 4x4 stride-2 convolutions
#
# DCGAN's two layers are adjoint linear maps. Write S_k for the 4x4, stride-2, pad-1
# convolution (2H, 2W, C) -> (H, W, O) of the discriminator and T_K for the 2x transposed
# convolution (H, W, Cin) -> (2H, 2W, Cout) of the generator. Then
#
#     T_K = transpose(S_k)   for   K = _adjoint_kernel(k) = flip(k, both spatial axes),
#                                                           input/output channels swapped,
#
# so each layer's input gradient is the other layer's forward pass, and both kernel
# gradients are one correlation of the large map with the small one:
#
#     dk[a, b] = sum_{n, i, j} big_p[n, 2i + a, 2j + b]^T small[n, i, j]   (big_p: padded by 1)
#
# The custom VJPs below use this to hand XLA:CPU only forms it runs fast. Autodiff of
# a strided convolution gives an input-dilated convolution, which XLA:CPU runs off its
# library path (2-4x slower than the forward pass); autodiff of a 3-channel convolution
# wastes most of each vector. What each layer computes (all exact, float32 round-off):
#
#   Conv4x4S2 (S):           forward   lax's strided convolution
#                            d input   T with the adjoint kernel (phase convolutions)
#                            d kernel  lax's kernel gradient (a kernel-dilated convolution,
#                                      which XLA:CPU runs as fast as the forward pass)
#   ConvTranspose4x4S2 (T):  forward   phase convolutions
#                            d input   the phase form's own gradient (stride-1 convolutions)
#                            d kernel  the phase form's own gradient
#
# except that maps with fewer than _FEW_CHANNELS channels on the large side (RGB images)
# use matrix products instead, 2.5-5x faster there. Products (im2col, or one per tap) for
# the wide layers were faster single-threaded, but no faster on two cores and added ~1 s
# of compilation (one fusion per tap), so only the RGB layers use them.

# Below this many channels on the large side, matrix products beat convolutions, whose
# vector lanes run mostly empty (the RGB layers).
_FEW_CHANNELS = 16
# Maps of at most this many pixels (4x4: a U-Net's or PatchGAN's innermost layers) are
# matrix products over the taps, gradients included: there XLA:CPU's convolution
# gradients run at a few GFLOP/s (a 4x4 stride-1 128->256 kernel gradient at batch 16:
# 54 ms by lax, 5 ms as products).
_SMALL_MAP = 16


def _pad1(x: Array) -> Array:
  return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))


def _adjoint_kernel(kernel: Array) -> Array:
  """The kernel of the adjoint map (see above): spatially flipped, in/out channels swapped."""
  return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def _strided_conv(x: Array, kernel: Array, precision) -> Array:
  """S: lax's 4x4 stride-2 convolution, padding 1."""
  return lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                  dimension_numbers=_NHWC, precision=precision)


def _strided_conv_by_product(x: Array, kernel: Array, precision) -> Array:
  """S as one matrix product over the 16 stride-2 taps (im2col), for few input channels."""
  _, h, w, c = x.shape
  xp = _pad1(x)
  cols = jnp.concatenate(
      [xp[:, a : a + h : 2, b : b + w : 2] for a in range(4) for b in range(4)], axis=-1)
  return jnp.dot(cols, kernel.reshape(16 * c, -1), precision=precision)


def _phase_conv_transpose(x: Array, kernel: Array, precision) -> Array:
  """T as four stride-1 2x2 convolutions, one per output phase, interleaved.

  Writing x_p for x zero-padded by one pixel on every side, output pixel (2m + r, 2n + s)
  with phase r, s in {0, 1} only meets the kernel taps of its phase::

      y[2m+r, 2n+s] = sum_{a,b in {0,1}} x_p[m+r+a, n+s+b] @ kernel[2a+r, 2b+s]
  """
  n, h, w, _ = x.shape
  # Four separate convolutions, not one 2x2 convolution with 4*Cout outputs sliced per
  # phase: on XLA:CPU the gradient of that fused form measured ~80x slower (20 s vs 0.26 s
  # for 16x16x256 -> 32x32x128 at batch 64).
  rows = []
  for r in (0, 1):
    cols = []
    for s in (0, 1):
      # Phase r needs x_p rows m+r .. m+r+1, i.e. x padded by (1-r, r) rows: each
      # phase convolution is VALID on its own padding and is exactly H x W, so nothing
      # is computed and then sliced away.
      cols.append(
          lax.conv_general_dilated(
              x,
              kernel[r::2, s::2],
              window_strides=(1, 1),
              padding=((1 - r, r), (1 - s, s)),
              dimension_numbers=_NHWC,
              precision=precision,
          )
      )
    rows.append(jnp.stack(cols, axis=3))  # (N, H, W, 2[s], Cout)
  # Depth-to-space by stacking and reshaping (no scatter): (N, H, 2[r], W, 2[s], C).
  return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, kernel.shape[-1])


def _phase_conv_transpose_by_products(x: Array, kernel: Array, precision) -> Array:
  """T in the phase form (above), each phase one matrix product over its 4 taps (im2col)."""
  n, h, w, c = x.shape
  xp = _pad1(x)
  rows = []
  for r in (0, 1):
    cols = []
    for s in (0, 1):
      taps = jnp.concatenate([xp[:, r + a : r + a + h, s + b : s + b + w]
                              for a in (0, 1) for b in (0, 1)], axis=-1)
      sub = kernel[r::2, s::2]  # (2[a], 2[b], Cin, Cout), in the taps' order.
      cols.append(jnp.dot(taps, sub.reshape(4 * c, -1), precision=precision))
    rows.append(jnp.stack(cols, axis=3))
  return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, kernel.shape[-1])


def _scatter_conv_transpose(x: Array, kernel: Array, precision) -> Array:
  """T as one matrix product x @ kernel[u, v] for all 16 taps, then an overlap-add.

  For few output channels, where each phase convolution would have a 3-wide output.
  """
  n, h, w, cin = x.shape
  cout = kernel.shape[-1]
  taps = jnp.dot(x, kernel.transpose(2, 0, 1, 3).reshape(cin, 16 * cout), precision=precision)
  taps = jnp.pad(taps.reshape(n, h, w, 4, 4, cout),
                 ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0), (0, 0)))
  rows = []
  for r in (0, 1):
    cols = []
    for s in (0, 1):  # The phase formula above, with x_p @ kernel[u, v] precomputed.
      cols.append(sum(taps[:, r + a : r + a + h, s + b : s + b + w, 2 * a + r, 2 * b + s]
                      for a in (0, 1) for b in (0, 1)))
    rows.append(jnp.stack(cols, axis=3))
  return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, cout)


def _conv_transpose(x: Array, kernel: Array, precision) -> Array:
  if kernel.shape[-1] < _FEW_CHANNELS:
    return _scatter_conv_transpose(x, kernel, precision)
  return _phase_conv_transpose(x, kernel, precision)


def _kernel_grad_by_conv(big: Array, small: Array, precision) -> Array:
  """dk of S (formula above), by lax: a kernel-dilated convolution, fast on XLA:CPU."""
  spec = jax.ShapeDtypeStruct((4, 4, big.shape[-1], small.shape[-1]), small.dtype)
  (dk,) = jax.linear_transpose(lambda k: _strided_conv(big, k, precision), spec)(small)
  return dk


def _kernel_grad_by_products(big: Array, small: Array, precision) -> Array:
  """dk of S (formula above) as 16 matrix products, one per tap."""
  _, h, w, c = big.shape
  bp = _pad1(big)
  small = small.reshape(-1, small.shape[-1])
  taps = [jnp.dot(bp[:, a : a + h : 2, b : b + w : 2].reshape(-1, c).T, small,
                  precision=precision) for a in range(4) for b in range(4)]
  return jnp.stack(taps).reshape(4, 4, c, -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_4x4_s2(x, kernel, precision):
  return _strided_conv(x, kernel, precision)


def _conv_4x4_s2_fwd(x, kernel, precision):
  return _strided_conv(x, kernel, precision), (x, kernel)


def _conv_4x4_s2_bwd(precision, residuals, g):
  x, kernel = residuals
  dx = _conv_transpose(g, _adjoint_kernel(kernel), precision)
  return dx, _kernel_grad_by_conv(x, g, precision)


_conv_4x4_s2.defvjp(_conv_4x4_s2_fwd, _conv_4x4_s2_bwd)


def conv_4x4_s2(x: Array, kernel: Array, precision: PrecisionLike = None) -> Array:
  """4x4, stride-2, pad-1 convolution (N, H, W, C) -> (N, H/2, W/2, O), fast gradients.

  Equals ``lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)))`` (NHWC, HWIO)
  in value and gradients; its input gradient is computed as `conv_transpose_4x4_s2`
  with the adjoint kernel instead of an input-dilated convolution. H and W must be even
  (odd sizes fall back to lax's own gradient).
  """
  if x.shape[1] % 2 or x.shape[2] % 2:
    return _strided_conv(x, kernel, precision)
  if x.shape[1] * x.shape[2] <= _SMALL_MAP:  # im2col: its autodiff is products too.
    return _strided_conv_by_product(x, kernel, precision)
  return _conv_4x4_s2(x, kernel, precision)


# The layer's forward pass is the phase form at every width (an RGB output layer's forward
# is 0.5% of a 64x64 DCGAN iteration), so that its gradient stays checkably a set of
# stride-1 convolutions; `_conv_transpose`'s product form serves the discriminator's
# input gradient.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_transpose_4x4_s2(x, kernel, precision):
  return _phase_conv_transpose(x, kernel, precision)


def _conv_transpose_4x4_s2_fwd(x, kernel, precision):
  return _phase_conv_transpose(x, kernel, precision), (x, kernel)


def _conv_transpose_4x4_s2_bwd(precision, residuals, g):
  # Stride-1 convolutions and products only, no strided or dilated convolution.
  x, kernel = residuals
  if kernel.shape[-1] < _FEW_CHANNELS:  # RGB output: matrix products (see above).
    return (_strided_conv_by_product(g, _adjoint_kernel(kernel), precision),
            _adjoint_kernel(_kernel_grad_by_products(g, x, precision)))
  (dx,) = jax.linear_transpose(lambda x: _phase_conv_transpose(x, kernel, precision), x)(g)
  (dk,) = jax.linear_transpose(lambda k: _phase_conv_transpose(x, k, precision), kernel)(g)
  return dx, dk


_conv_transpose_4x4_s2.defvjp(_conv_transpose_4x4_s2_fwd, _conv_transpose_4x4_s2_bwd)


def conv_transpose_4x4_s2(x: Array, kernel: Array, precision: PrecisionLike = None) -> Array:
  """2x transposed convolution (N, H, W, Cin) -> (N, 2H, 2W, Cout), exact and fast.

  Equals ``nn.ConvTranspose(Cout, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))``
  with this (4, 4, Cin, Cout) kernel, in value and gradients (see `ConvTranspose4x4S2`).
  """
  if x.shape[1] == x.shape[2] == 1:  # The innermost 1x1: its phase convolutions are slow.
    return _phase_conv_transpose_by_products(x, kernel, precision)
  return _conv_transpose_4x4_s2(x, kernel, precision)


def conv_4x4_s1(x: Array, kernel: Array, precision: PrecisionLike = None) -> Array:
  """4x4, stride-1, pad-1 convolution (N, H, W, C) -> (N, H-1, W-1, O) (the PatchGAN's last
  two layers). Equals ``lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)))``;
  maps of at most _SMALL_MAP pixels are one matrix product over the 16 taps (im2col)."""
  _, h, w, c = x.shape
  if (h - 1) * (w - 1) > _SMALL_MAP:
    return lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                    dimension_numbers=_NHWC, precision=precision)
  xp = _pad1(x)
  cols = jnp.concatenate(
      [xp[:, a : a + h - 1, b : b + w - 1] for a in range(4) for b in range(4)], axis=-1)
  return jnp.dot(cols, kernel.reshape(16 * c, -1), precision=precision)


class ConvTranspose4x4S2(nn.Module):
  """Exact, fast 2x upsampling transposed convolution (kernel 4, stride 2): (H, W) -> (2H, 2W).

  Computes the same function, with the same parameters (``{'kernel': (4, 4, Cin, Cout),
  'bias': (Cout,)}``, same initializers), as::

      nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))

  which is PyTorch's ``ConvTranspose2d(Cin, Cout, 4, stride=2, padding=1)`` (the DCGAN
  generator layer, Radford et al. 2016) up to `torch_conv_transpose_weight_to_flax`.

  Formula. Writing x_p for x zero-padded by one pixel on every side, output pixel
  (2m + r, 2n + s) with phase r, s in {0, 1} only meets the kernel taps of its phase::

      y[2m+r, 2n+s] = sum_{a,b in {0,1}} x_p[m+r+a, n+s+b] @ kernel[2a+r, 2b+s]

  so y is four stride-1 2x2 convolutions of the undilated input (one per phase, with
  the sub-kernel ``kernel[r::2, s::2]``) interleaved pixel by pixel: the sub-pixel or
  depth-to-space form of a strided transposed convolution (Shi et al. 2016, "Real-Time
  Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional
  Neural Network"). No multiply touches an inserted zero, and, what matters most on CPU,
  the gradients are stride-1 convolutions and matrix products too, not the input-dilated
  convolution that `lax.conv_transpose` differentiates into. The gradients are custom
  (see `conv_transpose_4x4_s2`): stride-1 convolutions or matrix products, whichever
  XLA:CPU runs faster for the shape.

  Attributes:
    features: number of output channels Cout.
    use_bias: whether to add a bias.
    kernel_init, bias_init: initializers (defaults as `nn.ConvTranspose`).
    dtype: computation dtype (default: inferred from inputs and params).
    param_dtype: parameter dtype.
    precision: `lax.Precision` for the convolutions.
  """

  features: int
  use_bias: bool = False
  kernel_init: Initializer = default_kernel_init
  bias_init: Initializer = default_bias_init
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, inputs: Array) -> Array:
    """Applies the layer.

    Args:
      inputs: (*batch, H, W, Cin); at least one batch axis is not required.

    Returns:
      (*batch, 2H, 2W, Cout).
    """
    if inputs.ndim < 3:
      raise ValueError(f"expected (*batch, H, W, C) inputs, got shape {inputs.shape}")
    x, batch_shape = _flatten_batch(inputs)
    cin = x.shape[-1]
    kernel = self.param(
        "kernel", self.kernel_init, (*self.kernel_shape, cin, self.features), self.param_dtype
    )
    bias = (
        self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        if self.use_bias
        else None
    )
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = self._conv_transpose(x, kernel)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])

  kernel_shape = (4, 4)

  def _conv_transpose(self, x, kernel):
    return conv_transpose_4x4_s2(x, kernel, self.precision)


class Conv4x4S2(nn.Module):
  """4x4, stride-2, pad-1 convolution (H, W) -> (H/2, W/2) with fast exact gradients.

  The same function and parameters (``{'kernel': (4, 4, Cin, Cout), 'bias': (Cout,)}``,
  same initializers) as::

      nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))

  i.e. PyTorch's ``Conv2d(Cin, Cout, 4, stride=2, padding=1)``, the DCGAN discriminator
  layer. Forward is lax's strided convolution; the input gradient, which autodiff makes
  an input-dilated convolution (2-4x slower on XLA:CPU than the forward pass), is
  computed as the transposed convolution of `ConvTranspose4x4S2` (see
  `conv_4x4_s2`). Inputs of odd height or width use lax's own gradient.

  Attributes:
    features: number of output channels.
    use_bias, kernel_init, bias_init, dtype, param_dtype, precision: as `nn.Conv`.
  """

  features: int
  use_bias: bool = False
  kernel_init: Initializer = default_kernel_init
  bias_init: Initializer = default_bias_init
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, inputs: Array) -> Array:
    """Maps (*batch, H, W, Cin) to (*batch, H/2, W/2, Cout) (rounded down for odd sizes)."""
    if inputs.ndim < 3:
      raise ValueError(f"expected (*batch, H, W, C) inputs, got shape {inputs.shape}")
    x, batch_shape = _flatten_batch(inputs)
    kernel = self.param("kernel", self.kernel_init,
                        (*self.kernel_shape, x.shape[-1], self.features), self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = self._conv(x, kernel)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])

  kernel_shape = (4, 4)

  def _conv(self, x, kernel):
    return conv_4x4_s2(x, kernel, self.precision)


class Conv4x4S1(Conv4x4S2):
  """4x4, stride-1, pad-1 convolution (H, W) -> (H-1, W-1): `conv_4x4_s1` as a layer.

  The same function and parameters as ``nn.Conv(features, (4, 4), padding=((1, 1), (1, 1)))``,
  i.e. PyTorch's ``Conv2d(Cin, Cout, 4, stride=1, padding=1)``: the PatchGAN's last two
  layers, fast on the small maps where lax's gradients are slow.
  """

  def _conv(self, x, kernel):
    return conv_4x4_s1(x, kernel, self.precision)


# Kernel row (or column) of a 3x3, stride-2 transposed convolution that output phase r
# (output pixel 2m + r) reads from input pixel m + d, for the shifts d in {0, 1}; None where
# the phase reads nothing: y[2m] = x[m] K[1], y[2m+1] = x[m] K[0] + x[m+1] K[2].
_TAPS_3X3_S2 = {(0, 0): 1, (0, 1): None, (1, 0): 0, (1, 1): 2}


def conv_transpose_3x3_s2(x: Array, kernel: Array, precision: PrecisionLike = None) -> Array:
  """`lax.conv_transpose(x, kernel, (2, 2), ((1, 2), (1, 2)))` (NHWC, HWIO): (H, W) -> (2H, 2W).

  Each output pixel (2m + r, 2n + s) reads only input pixels (m + dy, n + dx), dy, dx in
  {0, 1}, through the kernel taps `_TAPS_3X3_S2` gives for its phase (r, s): 1, 2, 2 and
  4 taps, 9 in all, none wasted. So each phase is one matrix product of the shifted
  copies of x it reads (zero past the bottom and right edges), side by side on the
  channel axis; depth-to-space interleaves the four. Its gradients are matrix products
  and slices, not the input-dilated convolution lax differentiates into.
  """
  n, h, w, _ = x.shape
  xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
  shifts = [(dy, dx) for dy in (0, 1) for dx in (0, 1)]
  phases = []
  for r, s in shifts:  # The output phases, in the order depth-to-space expects.
    taps = [(dy, dx, _TAPS_3X3_S2[(r, dy)], _TAPS_3X3_S2[(s, dx)]) for dy, dx in shifts]
    taps = [t for t in taps if t[2] is not None and t[3] is not None]
    cols = jnp.concatenate([xp[:, dy:dy + h, dx:dx + w] for dy, dx, _, _ in taps], axis=-1)
    k = jnp.concatenate([kernel[ky, kx] for _, _, ky, kx in taps], axis=0)
    phases.append(jnp.dot(cols, k, precision=precision))
  y = jnp.stack(phases, axis=3).reshape(n, h, w, 2, 2, -1).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, 2 * h, 2 * w, -1)


def conv_3x3_s2(x: Array, kernel: Array, precision: PrecisionLike = None) -> Array:
  """`lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)))` (NHWC, HWIO) for even H, W.

  As one matrix product of the nine strided views of the padded input (im2col): its
  input gradient is then a product and strided pads, not the input-dilated convolution
  that XLA:CPU runs 2x slower than PyTorch does.
  """
  n, h, w, cin = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  cols = jnp.concatenate([xp[:, ky:ky + h:2, kx:kx + w:2] for ky in range(3)
                          for kx in range(3)], axis=-1)
  return jnp.dot(cols, kernel.reshape(9 * cin, -1), precision=precision)


class Conv3x3S2(Conv4x4S2):
  """3x3, stride-2, pad-1 convolution (H, W) -> (H/2, W/2) for even H, W: `conv_3x3_s2`.

  The same function and parameters as ``nn.Conv(features, (3, 3), strides=2,
  padding=((1, 1), (1, 1)))``, PyTorch's ``Conv2d(Cin, Cout, 3, stride=2, padding=1)``
  (CycleGAN's downsampling).
  """

  kernel_shape = (3, 3)

  def _conv(self, x, kernel):
    if x.shape[1] % 2 or x.shape[2] % 2:
      raise ValueError(f"Conv3x3S2 takes even heights and widths, got {x.shape}")
    return conv_3x3_s2(x, kernel, self.precision)


class ConvTranspose3x3S2(ConvTranspose4x4S2):
  """2x upsampling by a 3x3, stride-2 transposed convolution: (H, W) -> (2H, 2W).

  The same function and parameters as::

      nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)))

  which is PyTorch's ``ConvTranspose2d(Cin, Cout, 3, stride=2, padding=1,
  output_padding=1)`` (CycleGAN's ResNet generator, after Johnson et al. 2016), computed
  by `conv_transpose_3x3_s2`.
  """

  kernel_shape = (3, 3)

  def _conv_transpose(self, x, kernel):
    return conv_transpose_3x3_s2(x, kernel, self.precision)


class ResizeConv(nn.Module):
  """Resize-convolution: upsample by ``scale``, then a stride-1 'SAME' convolution.

      y = conv_{k x k, stride 1, SAME}(upsample_scale(x))

  The upsampling alternative to a transposed convolution from Odena, Dumoulin & Olah
  2016, "Deconvolution and Checkerboard Artifacts" (Distill): every output pixel sees
  the same kernel taps, so a flat input gives a flat output (away from the zero-padded
  border) whatever the kernel, and the generator cannot produce the periodic
  checkerboard pattern of an uneven-overlap transposed convolution. Nearest-neighbour
  upsampling is the variant the article recommends.

  Parameters are ``{'kernel': (k, k, Cin, Cout), 'bias': (Cout,)}``, as `nn.Conv`.

  Attributes:
    features: output channels.
    kernel_size: spatial size k of the convolution.
    scale: integer upsampling factor.
    method: 'nearest' (exact pixel repetition) or any other `jax.image.resize` method,
      e.g. 'bilinear'.
    use_bias, kernel_init, bias_init, dtype, param_dtype, precision: as `nn.Conv`.
  """

  features: int
  kernel_size: int = 3
  scale: int = 2
  method: str = "nearest"
  use_bias: bool = False
  kernel_init: Initializer = default_kernel_init
  bias_init: Initializer = default_bias_init
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  precision: PrecisionLike = None

  @nn.compact
  def __call__(self, inputs: Array) -> Array:
    """Maps (*batch, H, W, Cin) to (*batch, scale*H, scale*W, Cout)."""
    if inputs.ndim < 3:
      raise ValueError(f"expected (*batch, H, W, C) inputs, got shape {inputs.shape}")
    if not isinstance(self.scale, int) or self.scale < 1:
      raise ValueError(f"scale must be a positive integer, got {self.scale!r}")
    x, batch_shape = _flatten_batch(inputs)
    n, h, w, cin = x.shape
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, cin, self.features), self.param_dtype)
    bias = (
        self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        if self.use_bias
        else None
    )
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)

    sh, sw = self.scale * h, self.scale * w
    if self.method == "nearest":
      # Broadcast + reshape repeats pixels exactly (and its gradient is a sum), with
      # none of jax.image.resize's general-purpose gather.
      x = jnp.broadcast_to(
          x[:, :, None, :, None, :], (n, h, self.scale, w, self.scale, cin)
      ).reshape(n, sh, sw, cin)
    else:
      x = jax.image.resize(x, (n, sh, sw, cin), method=self.method)
    y = lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=_NHWC,
        precision=self.precision,
    )
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])


class MinibatchDiscrimination(nn.Module):
  """Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs").

  For features f (N, A) and a learned tensor T (A, B*C)::

      M_i        = reshape(f_i @ T, (B, C))
      c_b(i, j)  = exp(-||M_{i,b} - M_{j,b}||_1)
      o(x_i)_b   = sum_{j != i} c_b(i, j)
      output     = concat([f, o], axis=-1)                  # (N, A + B)

  The self term (always exp(0) = 1) is masked out, so a batch of one gets o = 0 and an
  example with k exact duplicates gets o_b >= k. Features with more than one trailing
  axis are flattened to (N, A) first.

  The statistic is over the whole batch that the layer sees. Under `jax.jit` with the
  batch sharded over a data axis, that is the global batch (XLA gathers M across
  devices), so the result does not depend on how many devices there are; with
  `shard_map`/`pmap` it would only see the per-device batch. Memory is O(N^2 * B * C).

  Attributes:
    num_kernels: B, the number of similarity features appended.
    kernel_dim: C, the dimension of each kernel's projection.
    kernel_init: initializer for T. The default normal(0.05) follows the paper's code.
    dtype, param_dtype: computation and parameter dtypes.
  """

  num_kernels: int
  kernel_dim: int
  kernel_init: Initializer = nn.initializers.normal(stddev=0.05)
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features: Array) -> Array:
    """Maps features (N, ...) to (N, A + B) with A the flattened feature size."""
    if features.ndim < 2:
      raise ValueError(f"expected (N, ...) features, got shape {features.shape}")
    n = features.shape[0]
    f = features.reshape(n, -1)
    t = self.param(
        "kernel",
        self.kernel_init,
        (f.shape[-1], self.num_kernels * self.kernel_dim),
        self.param_dtype,
    )
    f, t = nn.dtypes.promote_dtype(f, t, dtype=self.dtype)
    m = (f @ t).reshape(n, self.num_kernels, self.kernel_dim)
    l1 = jnp.abs(m[:, None] - m[None, :]).sum(-1)  # (N, N, B)
    # Mask rather than subtract 1: 1 + tiny - 1 would round the tiny similarities away.
    not_self = ~jnp.eye(n, dtype=bool)[:, :, None]
    o = jnp.where(not_self, jnp.exp(-l1), 0).sum(axis=1)  # (N, B)
    return jnp.concatenate([f, o.astype(f.dtype)], axis=-1)


def spectral(layer: nn.Module, enabled: bool, train: bool):
  """`layer`, or `layer` spectrally normalised (Miyato et al. 2018) when `enabled`: its
  kernel divided by its largest singular value, estimated by one power iteration per
  training call (the vector u in the `batch_stats` collection, updated only when
  `train`). A kernel of any rank is read as a matrix (fan-in, fan-out).

  Spectral Normalization for Generative Adversarial Networks,
  https://arxiv.org/abs/1802.05957.
  """
  if not enabled:
    return layer
  norm = nn.SpectralNorm(layer)
  return lambda x: norm(x, update_stats=train)


def spectral_stats_where(pred, new_stats, old_stats):
  """`new_stats`, a network's batch_stats, with the power-iteration state (u, sigma) of
  its `spectral` layers taken from `old_stats` unless `pred` (a boolean scalar); other
  statistics (BatchNorm's) are `new_stats`' either way. For a step whose one forward
  pass serves both D's and G's update, so u advances on D's update only."""

  def pick(path, new, old):
    if any(str(getattr(k, "key", "")).startswith("SpectralNorm") for k in path):
      return jnp.where(pred, new, old)
    return new

  return jax.tree_util.tree_map_with_path(pick, new_stats, old_stats)


__all__ = [
    "Conv4x4S2",
    "ConvTranspose4x4S2",
    "MinibatchDiscrimination",
    "ResizeConv",
    "conv_4x4_s2",
    "conv_transpose_4x4_s2",
    "spectral",
    "spectral_stats_where",
    "flax_conv_transpose_kernel_to_torch",
    "torch_conv_transpose_weight_to_flax",
]


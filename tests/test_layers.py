"""Tests for ganjax.layers: exactness against flax (and torch when installed), shapes, values."""

import math
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from ganjax.layers import (
    Conv3x3S2,
    ConvTranspose3x3S2,
    ConvTranspose4x4S2,
    MinibatchDiscrimination,
    ResizeConv,
    flax_conv_transpose_kernel_to_torch,
    torch_conv_transpose_weight_to_flax,
)


def _normal(seed, shape, scale=1.0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32) * scale)


def _reference(features, use_bias):
  return nn.ConvTranspose(
      features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), use_bias=use_bias
  )


# ---------------------------------------------------------------- ConvTranspose4x4S2


def test_flax_padding_2_is_the_2x_upsampling_and_equals_same():
  x = _normal(0, (1, 3, 5, 2))
  ref = _reference(3, False)
  params = ref.init(jax.random.key(0), x)
  y = ref.apply(params, x)
  assert y.shape == (1, 6, 10, 3)
  same = nn.ConvTranspose(3, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)
  np.testing.assert_array_equal(same.apply(params, x), y)


CASES = [
    # (input shape, Cout, use_bias)
    ((1, 4, 4, 3), 8, True),  # even, square
    ((3, 5, 7, 8), 3, False),  # odd, non-square
    ((1, 3, 6, 1), 1, True),  # Cin = Cout = 1
    ((3, 1, 1, 3), 8, False),  # a single pixel
    ((3, 2, 5, 8), 1, True),
]


@pytest.mark.parametrize("shape,features,use_bias", CASES)
def test_conv_transpose_4x4s2_equals_flax_conv_transpose(shape, features, use_bias):
  x = _normal(1, shape)
  ref, new = _reference(features, use_bias), ConvTranspose4x4S2(features, use_bias=use_bias)
  key = jax.random.key(2)
  params = ref.init(key, x)
  # Same tree, names, shapes and initial values: checkpoints are interchangeable.
  new_params = new.init(key, x)
  assert jax.tree.structure(new_params) == jax.tree.structure(params)
  jax.tree.map(np.testing.assert_array_equal, new_params, params)
  params = jax.tree.map(lambda p: p + _normal(3, p.shape, 0.1), params)  # non-zero bias

  y_ref, vjp_ref = jax.vjp(ref.apply, params, x)
  y_new, vjp_new = jax.jit(lambda p, x: jax.vjp(new.apply, p, x))(params, x)
  assert y_new.shape == (shape[0], 2 * shape[1], 2 * shape[2], features)
  np.testing.assert_allclose(y_new, y_ref, rtol=1e-5, atol=1e-5)
  cotangent = _normal(4, y_ref.shape)
  for g_new, g_ref in zip(
      jax.tree.leaves(vjp_new(cotangent)), jax.tree.leaves(vjp_ref(cotangent))
  ):
    np.testing.assert_allclose(g_new, g_ref, rtol=1e-5, atol=1e-5)


def test_conv_transpose_4x4s2_batch_axes_and_dtype():
  layer = ConvTranspose4x4S2(4, use_bias=True)
  x = _normal(5, (2, 3, 3, 5, 2))
  params = layer.init(jax.random.key(0), x)
  y = layer.apply(params, x)
  assert y.shape == (2, 3, 6, 10, 4)
  np.testing.assert_allclose(y[1], layer.apply(params, x[1]), rtol=1e-6, atol=1e-6)
  assert layer.apply(params, x[1, 0]).shape == (6, 10, 4)  # no batch axis
  half = ConvTranspose4x4S2(4, dtype=jnp.bfloat16).init(jax.random.key(0), x)
  assert half["params"]["kernel"].dtype == jnp.float32
  assert ConvTranspose4x4S2(4, dtype=jnp.bfloat16).apply(half, x).dtype == jnp.bfloat16


def _windows(hlo_text):
  """(name, value) of every stride/dilation of every convolution in a StableHLO module."""
  return re.findall(r"(stride|lhs_dilate|rhs_dilate) = \[([\d, ]+)\]", hlo_text)


def test_conv_transpose_4x4s2_gradient_has_no_dilated_convolution():
  # The point of the layer: lax.conv_transpose's kernel gradient is an input-dilated
  # convolution that XLA on CPU runs ~20x slower than torch. Check structurally that
  # jax.grad of the phase form lowers to stride-1, undilated convolutions only.
  x = _normal(6, (2, 3, 3, 2))

  def grad_hlo(module):
    params = module.init(jax.random.key(0), x)
    loss = lambda p, x: jnp.sum(module.apply(p, x) ** 2)
    return jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, x).as_text()

  windows = _windows(grad_hlo(ConvTranspose4x4S2(3)))
  assert windows and all(value == "1, 1" for _, value in windows), windows
  assert ("lhs_dilate", "2, 2") in _windows(grad_hlo(_reference(3, False)))  # the check bites


def test_torch_weight_mapping_round_trip():
  w = np.random.default_rng(7).normal(size=(3, 5, 4, 4))
  k = torch_conv_transpose_weight_to_flax(w)
  assert k.shape == (4, 4, 3, 5)
  assert k[0, 1, 2, 3] == w[2, 3, 3, 2]  # spatially flipped
  np.testing.assert_array_equal(flax_conv_transpose_kernel_to_torch(k), w)
  with pytest.raises(ValueError):
    torch_conv_transpose_weight_to_flax(w[0])


@pytest.mark.parametrize("shape,features,use_bias", CASES[:3])
def test_conv_transpose_4x4s2_equals_torch(shape, features, use_bias):
  torch = pytest.importorskip("torch")
  n, h, w, cin = shape
  conv = torch.nn.ConvTranspose2d(cin, features, 4, stride=2, padding=1, bias=use_bias)
  with torch.no_grad():
    conv.weight.normal_(generator=torch.Generator().manual_seed(0))
    if use_bias:
      conv.bias.normal_(generator=torch.Generator().manual_seed(1))
  x = np.random.default_rng(8).normal(size=shape).astype(np.float32)
  xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
  yt = conv(xt)
  cotangent = np.random.default_rng(9).normal(size=yt.shape).astype(np.float32)
  yt.backward(torch.from_numpy(cotangent))

  params = {"kernel": torch_conv_transpose_weight_to_flax(conv.weight.detach().numpy())}
  if use_bias:
    params["bias"] = conv.bias.detach().numpy()
  layer = ConvTranspose4x4S2(features, use_bias=use_bias)
  y, vjp = jax.vjp(lambda p, x: layer.apply({"params": p}, x), params, jnp.asarray(x))
  np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
  g_params, g_x = vjp(jnp.asarray(cotangent.transpose(0, 2, 3, 1)))
  np.testing.assert_allclose(g_x, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      g_params["kernel"],
      torch_conv_transpose_weight_to_flax(conv.weight.grad.numpy()),
      rtol=1e-5,
      atol=1e-5,
  )
  if use_bias:
    np.testing.assert_allclose(g_params["bias"], conv.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- ResizeConv and checkerboards


@pytest.mark.parametrize("scale,method", [(2, "nearest"), (3, "nearest"), (2, "bilinear")])
def test_resize_conv_shape_and_params(scale, method):
  layer = ResizeConv(5, kernel_size=3, scale=scale, method=method, use_bias=True)
  x = _normal(10, (2, 3, 4, 2))
  params = layer.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, params) == {"params": {"kernel": (3, 3, 2, 5), "bias": (5,)}}
  assert jax.jit(layer.apply)(params, x).shape == (2, 3 * scale, 4 * scale, 5)


def test_resize_conv_nearest_is_upsample_then_conv():
  x = _normal(11, (1, 3, 4, 2))
  layer = ResizeConv(3, kernel_size=3, scale=2)
  params = layer.init(jax.random.key(0), x)
  up = jax.image.resize(x, (1, 6, 8, 2), method="nearest")
  expected = nn.Conv(3, (3, 3), padding="SAME", use_bias=False).apply(params, up)
  np.testing.assert_allclose(layer.apply(params, x), expected, rtol=1e-6, atol=1e-6)


def _interior(y, border):
  return np.asarray(y[0, border:-border, border:-border, 0])


def _is_flat(a):
  return np.ptp(a) < 1e-5 * max(1.0, np.abs(a).max())


def test_resize_conv_has_no_checkerboard():
  # Odena et al. 2016: with a flat input, any kernel gives a flat output away from the
  # zero-padded border, because every output pixel sees every kernel tap.
  x = jnp.ones((1, 6, 6, 2))
  layer = ResizeConv(1, kernel_size=3)
  params = layer.init(jax.random.key(0), x)  # a random kernel
  assert _is_flat(_interior(layer.apply(params, x), border=1))


def test_transposed_conv_shows_checkerboard():
  x = jnp.ones((1, 6, 6, 1))
  # Uneven overlap (kernel 3 not divisible by stride 2): even a constant kernel gives a
  # period-2 pattern, 1, 2 or 4 taps per output pixel.
  conv = nn.ConvTranspose(1, (3, 3), strides=(2, 2), padding="SAME", use_bias=False)
  y = _interior(conv.apply({"params": {"kernel": jnp.ones((3, 3, 1, 1))}}, x), border=2)
  assert not _is_flat(y)
  np.testing.assert_allclose(y[2:], y[:-2])  # periodic with period 2 ...
  np.testing.assert_allclose(y[:, 2:], y[:, :-2])
  assert sorted(np.unique(y)) == [1.0, 2.0, 4.0]

  # Kernel 4 / stride 2 overlaps evenly, so a constant kernel is flat, but a generic
  # kernel still gives each of the 4 output phases its own sub-kernel, hence its own
  # response to a flat input: the checkerboard a generator has to learn to cancel.
  layer = ConvTranspose4x4S2(1)
  assert _is_flat(_interior(layer.apply({"params": {"kernel": jnp.ones((4, 4, 1, 1))}}, x), 2))
  y = _interior(layer.apply(layer.init(jax.random.key(0), x), x), border=2)
  assert not _is_flat(y)
  np.testing.assert_allclose(y[2:], y[:-2], rtol=1e-5)
  np.testing.assert_allclose(y[:, 2:], y[:, :-2], rtol=1e-5)


# ---------------------------------------------------------------- MinibatchDiscrimination


def test_minibatch_discrimination_shape_flattens_trailing_axes():
  layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
  x = _normal(12, (5, 2, 3, 2))
  params = layer.init(jax.random.key(0), x)
  assert params["params"]["kernel"].shape == (12, 12)
  y = layer.apply(params, x)
  assert y.shape == (5, 12 + 4)
  np.testing.assert_array_equal(y[:, :12], x.reshape(5, 12))


def test_minibatch_discrimination_excludes_self():
  layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
  x = _normal(13, (1, 4))
  params = layer.init(jax.random.key(0), x)
  np.testing.assert_array_equal(layer.apply(params, x)[:, 4:], 0.0)  # a batch of one
  twins = jnp.concatenate([x, x])
  np.testing.assert_allclose(layer.apply(params, twins)[:, 4:], 1.0)  # exp(-0), once


def test_minibatch_discrimination_exact_values():
  f = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  e = math.exp(-1.0)
  # B=2 kernels of dimension C=1, T = I: M_{i,b} = f_{i,b}, distances |f_ib - f_jb|.
  layer = MinibatchDiscrimination(num_kernels=2, kernel_dim=1)
  o = layer.apply({"params": {"kernel": jnp.eye(2)}}, f)[:, 2:]
  np.testing.assert_allclose(o, [[1 + e, 2 * e], [2 * e, 1 + e], [1 + e, 1 + e]], rtol=1e-6)
  # B=1 kernel of dimension C=2: L1 distances d01 = 2, d02 = d12 = 1.
  layer = MinibatchDiscrimination(num_kernels=1, kernel_dim=2)
  o = layer.apply({"params": {"kernel": jnp.eye(2)}}, f)[:, 2:]
  np.testing.assert_allclose(o, [[e * e + e], [e * e + e], [2 * e]], rtol=1e-6)


def test_minibatch_discrimination_jit_and_grad():
  layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
  x = _normal(14, (4, 3))
  params = layer.init(jax.random.key(0), x)
  np.testing.assert_allclose(jax.jit(layer.apply)(params, x), layer.apply(params, x), rtol=1e-6)
  loss = lambda p, x: jnp.sum(jnp.sin(layer.apply(p, x)))
  grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  check_grads(lambda x: loss(params, x), (x,), order=1, modes=("rev",), atol=1e-2, rtol=1e-2)
  # Identical examples sit on the kink of |.|: the gradient must still be finite.
  twins = jnp.concatenate([x[:1], x[:1]])
  grads = jax.grad(loss, argnums=(0, 1))(params, twins)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


# ---------------------------------------------------------------- CycleGAN's 3x3 stride-2 pair


@pytest.mark.parametrize("layer,reference,shape", [
    (ConvTranspose3x3S2, lambda f: nn.ConvTranspose(f, (3, 3), strides=(2, 2),
                                                    padding=((1, 2), (1, 2))), (2, 5, 7, 3)),
    (ConvTranspose3x3S2, lambda f: nn.ConvTranspose(f, (3, 3), strides=(2, 2),
                                                    padding=((1, 2), (1, 2))), (1, 1, 1, 2)),
    (Conv3x3S2, lambda f: nn.Conv(f, (3, 3), strides=2, padding=((1, 1), (1, 1))),
     (2, 6, 8, 3)),
])
def test_3x3_stride_2_layers_equal_flax_in_values_and_gradients(layer, reference, shape):
  x = _normal(7, shape)
  fast, ref = layer(4, use_bias=True), reference(4)
  params = ref.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(
      jnp.shape, fast.init(jax.random.key(0), x))                 # Same parameters.
  np.testing.assert_allclose(fast.apply(params, x), ref.apply(params, x), atol=1e-5)
  grads = [jax.grad(lambda p, x, m=m: jnp.sum(jnp.sin(m.apply(p, x))), argnums=(0, 1))(
      params, x) for m in (fast, ref)]
  for a, b in zip(*map(jax.tree.leaves, grads)):
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_conv3x3s2_refuses_odd_sizes():
  with pytest.raises(ValueError, match="even heights and widths"):
    Conv3x3S2(2).init(jax.random.key(0), jnp.zeros((1, 5, 6, 1)))

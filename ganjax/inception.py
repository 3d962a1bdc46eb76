"""InceptionV3 for FID, KID and the Inception Score, in Flax, with weights from a local file.

The network is the one the FID reference implementations use: the TensorFlow Inception graph
of 2015-12-05 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
CVPR 2016), as ported to PyTorch by pytorch-fid (mseitzer/pytorch-fid, `FIDInceptionA/C/E_1/
E_2`). It differs from torchvision's InceptionV3 in three places, reproduced here: the average
pools of the A, C and E blocks ignore the zero padding (`count_include_pad=False`), the last E
block pools by max instead of average, and the classifier has 1008 outputs.

    net = inception.load('inception_fid.npz')
    features, probs = net.predict(images)   # images (N, H, W, 1 or 3) in [-1, 1]
    features.shape, probs.shape              # (N, 2048), (N, 1008)

What `predict` does, exactly (pytorch-fid's `InceptionV3(resize_input=True,
normalize_input=True)`):
1. Grayscale images are repeated to 3 channels.
2. Images are resized to 299x299 by bilinear interpolation with half-pixel centres and no
   antialiasing: PyTorch's `F.interpolate(x, size=(299, 299), mode='bilinear',
   align_corners=False)`, the convention of pytorch-fid. (The original TensorFlow FID code
   resizes inside the graph with TF1's legacy bilinear resize, `align_corners=False` without
   half-pixel centres; FIDs of the two differ slightly, so compare numbers from one of them.)
3. Inputs are in [-1, 1] (pytorch-fid maps its [0, 1] inputs to 2x - 1; ganjax images already
   are in [-1, 1], and bilinear resizing commutes with that affine map).
4. `features` are the 2048-d pool3 activations (global average pool after Mixed_7c): the FID
   features. `probs` is the softmax over the 1008 logits `pool3 @ fc.kernel`, without the bias,
   as in the original Inception Score code (Salimans et al. 2016) and torch-fidelity.

Weights: nothing is downloaded. Get pytorch-fid's port of the FID weights,
`pt_inception-2015-12-05-6726825d.pth` (the release asset
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth,
about 91 MB), on a machine with internet and PyTorch, and convert it:

    python -m experiments.convert_inception_weights \\
        --torch_weights=pt_inception-2015-12-05-6726825d.pth --out=inception_fid.npz

The format `load` accepts: an uncompressed or compressed NumPy `.npz` whose keys are the Flax
variable paths joined by '/', `params/<module path>/conv/kernel` (kh, kw, in, out),
`params/<path>/bn/scale|bias`, `batch_stats/<path>/bn/mean|var`, `params/fc/kernel` (2048,
1008) and `params/fc/bias`, float32, plus `format` = 'ganjax-inception-fid-v1'. Module paths
are pytorch-fid's names (`Conv2d_1a_3x3`, `Mixed_5b/branch1x1`, ...), so the conversion is
a transpose per array. Every array must be present with its exact shape; anything else is an
`InceptionWeightsError` naming the file and the problem.

On a CPU this network is slow (about 6 GFLOPs per image at 299x299: 3 images per second on
the project's shared 2-core machine), so evaluating digits (1,497 generated + 1,797 real
images) takes about 20 minutes there; FID over 10,000 samples wants a GPU.
"""

from __future__ import annotations

import functools
import os
import zipfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

FORMAT = "ganjax-inception-fid-v1"
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008
BN_EPSILON = 1e-3


class InceptionWeightsError(ValueError):
  """An InceptionV3 weights file is missing, unreadable, or does not fit the network."""


# --------------------------------------------------------------------------- network


class BasicConv2d(nn.Module):
  """Convolution without bias, BatchNorm (eps 1e-3, running statistics), ReLU."""

  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel_size, strides=self.strides,
                padding=((ph, ph), (pw, pw)), use_bias=False, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name="bn")(x)
    return nn.relu(x)


def _avg_pool_3x3_same(x):
  # TensorFlow's average pool: the padded zeros do not count (count_include_pad=False).
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, (3, 3), strides=2, name="branch3x3")(x)
    bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv2d(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv2d(320, (3, 3), strides=2, name="branch3x3_2")(b3)
    b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv2d(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  pool: str  # 'avg' (Mixed_7b) or 'max' (Mixed_7c: a quirk of the FID graph, kept)

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
        BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
    bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
        BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
    if self.pool == "avg":
      pooled = _avg_pool_3x3_same(x)
    else:
      pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class UnbiasedLogits(nn.Module):
  """The 1008-way classifier; returns x @ kernel without the bias (the Inception Score's logits)."""

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], NUM_LOGITS))
    self.param("bias", nn.initializers.zeros, (NUM_LOGITS,))  # Kept so files round-trip.
    return x @ kernel


class InceptionV3(nn.Module):
  """FID InceptionV3 on (B, H, W, 3) inputs in [-1, 1] (H, W >= 75; 299 for the standard).

  Returns (pool3 features (B, 2048), unbiased logits (B, 1008)).
  """

  @nn.compact
  def __call__(self, x):
    x = BasicConv2d(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
    x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE("avg", name="Mixed_7b")(x)
    x = InceptionE("max", name="Mixed_7c")(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    return pool3, UnbiasedLogits(name="fc")(pool3)


# --------------------------------------------------------------------------- input


def _bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
  """(out, in) weights of PyTorch's bilinear resize, align_corners=False, no antialiasing."""
  # In float32, as PyTorch computes the source coordinates (bit-for-bit weights).
  scale = np.float32(in_size) / np.float32(out_size)
  dst = np.arange(out_size, dtype=np.float32)
  src = np.maximum(scale * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0))
  i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)  # Half-pixel centres.
  i1 = np.minimum(i0 + 1, in_size - 1)
  frac = (src - i0.astype(np.float32)).astype(np.float64)
  m = np.zeros((out_size, in_size), np.float64)
  np.add.at(m, (np.arange(out_size), i0), 1.0 - frac)
  np.add.at(m, (np.arange(out_size), i1), frac)
  return m.astype(np.float32)


def resize_bilinear(images, size: int = INPUT_SIZE):
  """(B, H, W, C) -> (B, size, size, C) as torch's F.interpolate(mode='bilinear',
  align_corners=False) does (pytorch-fid's resize), exactly: separable, half-pixel centres,
  no antialiasing even when shrinking."""
  _, h, w, _ = images.shape
  if (h, w) == (size, size):
    return images
  mh, mw = jnp.asarray(_bilinear_matrix(h, size)), jnp.asarray(_bilinear_matrix(w, size))
  hp = jax.lax.Precision.HIGHEST
  x = jnp.einsum("oh,bhwc->bowc", mh, images, precision=hp)
  return jnp.einsum("pw,bowc->bopc", mw, x, precision=hp)


def preprocess(images, size: int = INPUT_SIZE):
  """ganjax images (B, H, W, 1|3) in [-1, 1] -> the network's (B, size, size, 3) input."""
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  elif images.shape[-1] != 3:
    raise ValueError(f"InceptionV3 takes 1- or 3-channel images, got shape {images.shape}")
  return resize_bilinear(images, size)


# --------------------------------------------------------------------------- weights


def variable_shapes() -> dict[str, tuple[int, ...]]:
  """{'params/.../kernel': shape, ...}: every array a weights file must hold."""
  return dict(_variable_shapes())


@functools.lru_cache(maxsize=1)
def _variable_shapes():
  shapes = jax.eval_shape(InceptionV3().init, jax.random.key(0),
                          jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
  flat = traverse_util.flatten_dict(shapes, sep="/")
  return tuple((k, tuple(v.shape)) for k, v in flat.items())


def random_variables(seed: int = 0) -> dict:
  """Random variables {'params', 'batch_stats'} of the right shapes, made in NumPy (no
  compile): kernels N(0, 1/fan_in), BatchNorm scales around 1, running variances positive.
  For tests and for checking a conversion; FID with them means nothing."""
  rng = np.random.default_rng(seed)
  flat = {}
  for k, shape in variable_shapes().items():
    if k.endswith("/kernel"):
      fan_in = int(np.prod(shape[:-1]))
      v = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
    elif k.endswith("/scale") or k.endswith("/var"):
      v = rng.uniform(0.5, 1.5, shape)
    else:  # BatchNorm bias and running mean, classifier bias.
      v = rng.normal(0.0, 0.1, shape)
    flat[k] = v.astype(np.float32)
  return traverse_util.unflatten_dict(flat, sep="/")


def save_weights(path: str, variables: dict) -> str:
  """Writes variables {'params', 'batch_stats'} in the format `load` reads."""
  flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
  arrays = {k: np.asarray(v, np.float32) for k, v in flat.items()}
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "wb") as f:  # A file object: np.savez would append '.npz' to a bare name.
    np.savez(f, format=np.array(FORMAT), **arrays)
  return path


def load_variables(path: str) -> dict:
  """Reads and checks a weights file; returns variables {'params', 'batch_stats'}.

  Raises:
    InceptionWeightsError: no such file, not an .npz, not this format, or arrays missing,
      unexpected, of the wrong shape or not finite.
  """
  if not os.path.isfile(path):
    raise InceptionWeightsError(f"no InceptionV3 weights file {path}")
  try:
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
      arrays = {k: npz[k] for k in npz.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise InceptionWeightsError(
        f"{path} is not a readable .npz weights file ({type(e).__name__}: {e}); "
        f"see ganjax/inception.py for the format") from e
  fmt = arrays.pop("format", None)
  if fmt is None or str(fmt) != FORMAT:
    raise InceptionWeightsError(
        f"{path} is not a ganjax InceptionV3 weights file (format {fmt!r}, want {FORMAT!r}); "
        f"convert pytorch-fid's weights with experiments/convert_inception_weights.py")
  expected = variable_shapes()
  missing = sorted(set(expected) - set(arrays))
  unexpected = sorted(set(arrays) - set(expected))
  wrong = sorted(k for k in set(expected) & set(arrays) if arrays[k].shape != expected[k])
  problems = []
  if missing:
    problems.append(f"{len(missing)} arrays missing (e.g. {', '.join(missing[:3])})")
  if unexpected:
    problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
  if wrong:
    k = wrong[0]
    problems.append(f"{len(wrong)} of the wrong shape (e.g. {k}: {arrays[k].shape}, "
                    f"want {expected[k]})")
  if problems:
    raise InceptionWeightsError(f"{path} does not fit the FID InceptionV3: "
                                + "; ".join(problems))
  bad = [k for k, v in arrays.items() if not np.all(np.isfinite(v))]
  if bad:
    raise InceptionWeightsError(f"{path}: {len(bad)} arrays hold NaN or inf (e.g. {bad[0]})")
  flat = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
  return traverse_util.unflatten_dict(flat, sep="/")


def from_torch_state_dict(state_dict) -> dict:
  """pytorch-fid's FIDInceptionA/C/E state dict (name -> numpy array) -> Flax variables.

  'X.conv.weight' (out, in, kh, kw) -> params/X/conv/kernel (kh, kw, in, out);
  'X.bn.weight|bias' -> params/X/bn/scale|bias; 'X.bn.running_mean|var' ->
  batch_stats/X/bn/mean|var; 'fc.weight' (1008, 2048) -> params/fc/kernel (2048, 1008);
  'fc.bias' -> params/fc/bias. 'num_batches_tracked' and AuxLogits.* are dropped.
  """
  flat = {}
  for name, value in state_dict.items():
    value = np.asarray(value)
    parts = name.split(".")
    if parts[-1] == "num_batches_tracked" or parts[0] == "AuxLogits":
      continue
    path, leaf = "/".join(parts[:-2]), parts[-2:]
    if leaf == ["conv", "weight"]:
      flat[f"params/{path}/conv/kernel"] = value.transpose(2, 3, 1, 0)
    elif leaf[0] == "bn" and leaf[1] in ("weight", "bias"):
      flat[f"params/{path}/bn/{'scale' if leaf[1] == 'weight' else 'bias'}"] = value
    elif leaf[0] == "bn" and leaf[1] in ("running_mean", "running_var"):
      flat[f"batch_stats/{path}/bn/{leaf[1][len('running_'):]}"] = value
    elif name == "fc.weight":
      flat["params/fc/kernel"] = value.T
    elif name == "fc.bias":
      flat["params/fc/bias"] = value
    else:
      raise InceptionWeightsError(f"unexpected array {name!r} in the PyTorch state dict: is "
                                  f"it pytorch-fid's pt_inception-2015-12-05 file?")
  return traverse_util.unflatten_dict(
      {k: np.ascontiguousarray(v, np.float32) for k, v in flat.items()}, sep="/")


def convert_torch_file(torch_weights: str, out: str) -> str:
  """Converts pytorch-fid's .pth (needs PyTorch) into a checked weights file at `out`.

  Raises InceptionWeightsError for a file torch cannot read or that is another network;
  nothing is left at `out` then.
  """
  import torch  # Only the conversion needs it.
  if not os.path.isfile(torch_weights):
    raise InceptionWeightsError(f"no file {torch_weights}")
  try:
    state_dict = torch.load(torch_weights, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises several types for files that are not checkpoints.
    raise InceptionWeightsError(f"cannot read {torch_weights} with torch.load: {e}") from e
  if isinstance(state_dict.get("state_dict"), dict):
    state_dict = state_dict["state_dict"]
  try:
    variables = from_torch_state_dict(
        {k: v.detach().cpu().numpy() for k, v in state_dict.items()})
    save_weights(out, variables)
    load_variables(out)  # Checks every array and shape.
  except InceptionWeightsError:
    if os.path.exists(out):
      os.remove(out)
    raise
  return out


def to_torch_state_dict(variables) -> dict:
  """The inverse of `from_torch_state_dict` (numpy arrays; for tests and cross-checks)."""
  out = {}
  for key, value in traverse_util.flatten_dict(jax.device_get(variables), sep="/").items():
    collection, *path, leaf = key.split("/")
    value = np.asarray(value)
    if path == ["fc"]:
      out[f"fc.{'weight' if leaf == 'kernel' else 'bias'}"] = value.T if leaf == "kernel" \
          else value
      continue
    prefix = ".".join(path)
    if leaf == "kernel":
      out[f"{prefix}.weight"] = value.transpose(3, 2, 0, 1)
    elif collection == "params":
      out[f"{prefix}.{'weight' if leaf == 'scale' else 'bias'}"] = value
    else:
      out[f"{prefix}.running_{leaf}"] = value
  return out


# --------------------------------------------------------------------------- the loaded network


@functools.lru_cache(maxsize=None)
def _jitted_forward(size: int):
  """One jitted forward pass per input size, shared by every loaded network (one compile)."""
  module = InceptionV3()
  return jax.jit(lambda variables, images: module.apply(variables, preprocess(images, size)))


class FIDInception:
  """A loaded InceptionV3: `predict(images) -> (pool3 features, probs)`."""

  def __init__(self, variables: dict, *, input_size: int = INPUT_SIZE, path: str | None = None):
    self.variables = jax.device_put(variables)
    self.input_size = input_size
    self.path = path

  @property
  def _apply(self):
    return _jitted_forward(self.input_size)

  def predict(self, images, *, batch_size: int = 50):
    """(features float32 (N, 2048), probs float32 (N, 1008)) of images (N, H, W, 1|3) in [-1, 1]."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
      raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    features, probs = [], []
    for start in range(0, len(images), batch_size):
      chunk = images[start:start + batch_size]
      n = len(chunk)
      if n < batch_size and len(images) > batch_size:  # One compiled shape.
        chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]),
                                                chunk.dtype)])
      pool3, logits = self._apply(self.variables, chunk)
      features.append(np.asarray(pool3)[:n])
      probs.append(np.asarray(jax.nn.softmax(logits))[:n])
    return np.concatenate(features), np.concatenate(probs)


def load(path: str, *, input_size: int = INPUT_SIZE) -> FIDInception:
  """The FID InceptionV3 with weights from `path` (see the module docstring for the format).

  `input_size` other than 299 is for tests only (FID is defined at 299).
  """
  return FIDInception(load_variables(path), input_size=input_size, path=path)

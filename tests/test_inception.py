"""InceptionV3 (FID): architecture, pytorch-fid's resize, weight files, the converter, errors.

No real weights here: the tests make random ones, check the network against a PyTorch
transcription of pytorch-fid's forward pass, and round-trip files through the converter.
"""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from ganjax import inception

torch = pytest.importorskip("torch")
F = torch.nn.functional
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 75  # The smallest input InceptionV3 takes: keeps these tests fast (FID uses 299).


@pytest.fixture(scope="module")
def variables():
  return inception.random_variables(seed=0)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, variables):
  return inception.save_weights(str(tmp_path_factory.mktemp("w") / "inception.npz"), variables)


def test_parameter_count_is_pytorch_fids():
  shapes = inception.variable_shapes()
  params = sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith("params/"))
  # torchvision inception_v3(aux_logits=False): 23,834,568 with 1000 classes; 1008 here.
  assert params == 23_834_568 + 8 * 2048 + 8
  assert shapes["params/fc/kernel"] == (2048, 1008)
  assert shapes["params/Conv2d_1a_3x3/conv/kernel"] == (3, 3, 3, 32)
  assert shapes["batch_stats/Mixed_7c/branch_pool/bn/var"] == (192,)


@pytest.mark.parametrize("in_size", [16, 8, 400])
def test_resize_is_torch_bilinear_without_antialiasing(in_size):
  x = np.random.default_rng(0).uniform(-1, 1, (2, in_size, in_size, 3)).astype(np.float32)
  ours = np.asarray(inception.resize_bilinear(x, 299))
  ref = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(299, 299),
                      mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()
  np.testing.assert_allclose(ours, ref, atol=2e-6)


def _torch_reference(sd, images, size):
  """pytorch-fid's InceptionV3 forward (FIDInceptionA/C/E_1/E_2), from its state dict."""
  sd = {k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()}

  def conv(name, x, stride=1, padding=0):
    x = F.conv2d(x, sd[f"{name}.conv.weight"], stride=stride, padding=padding)
    x = F.batch_norm(x, sd[f"{name}.bn.running_mean"], sd[f"{name}.bn.running_var"],
                     sd[f"{name}.bn.weight"], sd[f"{name}.bn.bias"], training=False, eps=1e-3)
    return F.relu(x)

  def chain(p, x, *specs):
    for name, kw in specs:
      x = conv(f"{p}.{name}", x, **kw)
    return x

  avg = lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
  cat = lambda xs: torch.cat(xs, 1)

  def block_a(p, x):
    return cat([conv(f"{p}.branch1x1", x),
                chain(p, x, ("branch5x5_1", {}), ("branch5x5_2", {"padding": 2})),
                chain(p, x, ("branch3x3dbl_1", {}), ("branch3x3dbl_2", {"padding": 1}),
                      ("branch3x3dbl_3", {"padding": 1})),
                conv(f"{p}.branch_pool", avg(x))])

  def block_b(p, x):
    return cat([conv(f"{p}.branch3x3", x, stride=2),
                chain(p, x, ("branch3x3dbl_1", {}), ("branch3x3dbl_2", {"padding": 1}),
                      ("branch3x3dbl_3", {"stride": 2})),
                F.max_pool2d(x, 3, 2)])

  def block_c(p, x):
    h, v = {"padding": (0, 3)}, {"padding": (3, 0)}
    return cat([conv(f"{p}.branch1x1", x),
                chain(p, x, ("branch7x7_1", {}), ("branch7x7_2", h), ("branch7x7_3", v)),
                chain(p, x, ("branch7x7dbl_1", {}), ("branch7x7dbl_2", v),
                      ("branch7x7dbl_3", h), ("branch7x7dbl_4", v), ("branch7x7dbl_5", h)),
                conv(f"{p}.branch_pool", avg(x))])

  def block_d(p, x):
    return cat([chain(p, x, ("branch3x3_1", {}), ("branch3x3_2", {"stride": 2})),
                chain(p, x, ("branch7x7x3_1", {}), ("branch7x7x3_2", {"padding": (0, 3)}),
                      ("branch7x7x3_3", {"padding": (3, 0)}), ("branch7x7x3_4", {"stride": 2})),
                F.max_pool2d(x, 3, 2)])

  def block_e(p, x, pool):
    b3 = conv(f"{p}.branch3x3_1", x)
    bd = chain(p, x, ("branch3x3dbl_1", {}), ("branch3x3dbl_2", {"padding": 1}))
    pooled = avg(x) if pool == "avg" else F.max_pool2d(x, 3, 1, 1)
    return cat([conv(f"{p}.branch1x1", x),
                cat([conv(f"{p}.branch3x3_2a", b3, padding=(0, 1)),
                     conv(f"{p}.branch3x3_2b", b3, padding=(1, 0))]),
                cat([conv(f"{p}.branch3x3dbl_3a", bd, padding=(0, 1)),
                     conv(f"{p}.branch3x3dbl_3b", bd, padding=(1, 0))]),
                conv(f"{p}.branch_pool", pooled)])

  x = torch.from_numpy(images).permute(0, 3, 1, 2).repeat(1, 3, 1, 1)
  x = (x + 1) / 2  # pytorch-fid's inputs are in [0, 1] ...
  x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
  x = 2 * x - 1     # ... and normalize_input maps them to [-1, 1].
  x = conv("Conv2d_1a_3x3", x, stride=2)
  x = conv("Conv2d_2a_3x3", x)
  x = F.max_pool2d(conv("Conv2d_2b_3x3", x, padding=1), 3, 2)
  x = conv("Conv2d_4a_3x3", conv("Conv2d_3b_1x1", x))
  x = F.max_pool2d(x, 3, 2)
  for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
    x = block_a(name, x)
  x = block_b("Mixed_6a", x)
  for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
    x = block_c(name, x)
  x = block_e("Mixed_7c", block_e("Mixed_7b", block_d("Mixed_7a", x), "avg"), "max")
  pool3 = F.adaptive_avg_pool2d(x, 1).flatten(1)
  return pool3.numpy(), (pool3 @ sd["fc.weight"].T).softmax(-1).numpy()


@pytest.fixture(scope="module")
def predictions(weights_file):
  images = np.random.default_rng(1).uniform(-1, 1, (6, 16, 16, 1)).astype(np.float32)
  net = inception.load(weights_file, input_size=SIZE)
  return images, net.predict(images, batch_size=4)  # 2 batches: one padded


def test_round_trip_and_2048_features(predictions):
  _, (features, probs) = predictions
  assert features.shape == (6, 2048) and probs.shape == (6, 1008)
  assert np.all(np.isfinite(features)) and np.all(features >= 0)  # pool of ReLUs
  np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
  assert not np.allclose(features[0], features[1])


def test_matches_pytorch_fid_forward_through_the_converter(predictions, variables):
  images, (features, probs) = predictions
  torch_sd = inception.to_torch_state_dict(variables)
  # The converter's mapping is the inverse of to_torch_state_dict.
  back = inception.from_torch_state_dict({**torch_sd, "Mixed_5b.branch1x1.bn.num_batches_tracked":
                                          np.array(0)})
  for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(a, b)
  ref_features, ref_probs = _torch_reference(torch_sd, images, SIZE)
  scale = np.abs(ref_features).max()
  np.testing.assert_allclose(features, ref_features, atol=1e-4 * scale)
  np.testing.assert_allclose(probs, ref_probs, atol=1e-5)


def test_converter_writes_a_loadable_file(tmp_path, variables):
  sd = {k: torch.from_numpy(np.asarray(v)) for k, v in
        inception.to_torch_state_dict(variables).items()}
  sd["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(5)
  torch.save(sd, tmp_path / "pt_inception.pth")
  out = inception.convert_torch_file(str(tmp_path / "pt_inception.pth"),
                                     str(tmp_path / "converted.npz"))
  loaded = inception.load_variables(out)
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(a, b)


def test_converter_cli_rejects_another_network_in_one_line(tmp_path):
  torch.save({"layer.weight": torch.zeros(2)}, tmp_path / "other.pth")
  r = subprocess.run([sys.executable, "-m", "experiments.convert_inception_weights",
                      f"--torch_weights={tmp_path / 'other.pth'}", f"--out={tmp_path / 'x.npz'}"],
                     cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True,
                     text=True)
  assert r.returncode == 2 and r.stderr.startswith("error:") and "layer.weight" in r.stderr
  assert len(r.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "x.npz").exists()


def _rewrite(src, dst, change):
  with open(src, "rb") as f, np.load(f) as npz:
    arrays = {k: npz[k] for k in npz.files}
  change(arrays)
  with open(dst, "wb") as f:
    np.savez(f, **arrays)
  return str(dst)


def test_bad_weight_files_fail_clearly(tmp_path, weights_file):
  with pytest.raises(inception.InceptionWeightsError, match="no InceptionV3 weights file"):
    inception.load(str(tmp_path / "missing.npz"))
  garbage = tmp_path / "garbage.npz"
  garbage.write_bytes(b"not a zip file at all")
  with pytest.raises(inception.InceptionWeightsError, match="not a readable .npz"):
    inception.load(str(garbage))
  truncated = tmp_path / "truncated.npz"
  with open(weights_file, "rb") as f:
    truncated.write_bytes(f.read(100_000))
  with pytest.raises(inception.InceptionWeightsError, match="not a readable .npz"):
    inception.load(str(truncated))
  key = "params/Mixed_6b/branch7x7_2/conv/kernel"
  cases = {
      "missing": (lambda a: a.pop(key), r"1 arrays missing \(e.g. " + key),
      "shape": (lambda a: a.__setitem__(key, a[key][:, :3]), "wrong shape"),
      "extra": (lambda a: a.__setitem__("params/AuxLogits/fc/kernel", np.zeros(3)),
                "unexpected"),
      "format": (lambda a: a.pop("format"), "not a ganjax InceptionV3 weights file"),
      "nan": (lambda a: a[key].__setitem__((0, 0, 0, 0), np.nan), "NaN"),
  }
  for name, (change, message) in cases.items():
    path = _rewrite(weights_file, tmp_path / f"{name}.npz", change)
    with pytest.raises(inception.InceptionWeightsError, match=message):
      inception.load(path)

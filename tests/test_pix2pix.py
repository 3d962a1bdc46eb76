"""pix2pix: its networks, paired data, step, test-time modes, run, evaluation and translate CLI."""

import functools
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from ganjax import classifier, evaluate, images, losses, pixel_metrics, train
from ganjax.config import ConfigError
from ganjax import paired
from ganjax.families import pix2pix
from ganjax.models.pix2pix import (UPSAMPLING, PatchGANDiscriminator, UNetGenerator,
                                   receptive_field, unet_depth)
from experiments.configs import pix2pix as pix2pix_configs
from conftest import check_spectral_norm, run_module, shrink


def tiny(data_dir="", **overrides):
  """The edges task at 8x8 with 4-filter networks: seconds to train."""
  c = shrink(pix2pix_configs.get_config("edges"), data_dir)
  c.resolution, c.load_size, c.d_layers, c.d_width, c.batch_size = 8, 10, 1, 4, 4
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


# --------------------------------------------------------------------------- networks


def test_unet_depth_goes_down_to_one_pixel_and_refuses_other_sizes():
  assert [unet_depth(r) for r in (8, 32, 128, 256)] == [3, 5, 7, 8]
  for bad in (20, 4, 48):
    with pytest.raises(ValueError, match="power of two >= 8"):
      unet_depth(bad)


@pytest.mark.parametrize("normalization", ["batch", "instance"])
def test_unet_maps_sources_to_images_in_range_and_dropout_is_its_noise(normalization):
  g = UNetGenerator(channels=3, width=4, normalization=normalization)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 1))
  v = g.init(jax.random.key(1), x, train=False)

  @functools.partial(jax.jit, static_argnums=1)
  def run(key, module=g):
    out, _ = module.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": key})
    return out

  y = run(jax.random.key(2))
  assert y.shape == (2, 8, 8, 3) and float(jnp.max(jnp.abs(y))) <= 1.0
  assert not np.allclose(y, run(jax.random.key(3)))  # Dropout on: another draw differs.
  det = UNetGenerator(channels=3, width=4, normalization=normalization, dropout_blocks=0)
  np.testing.assert_allclose(run(jax.random.key(2), det), run(jax.random.key(3), det))


def test_unet_levels_are_concatenated_with_their_encoder_twins():
  g = UNetGenerator(channels=1, width=4)
  v = jax.jit(lambda x: g.init(jax.random.key(0), x, train=False))(jnp.zeros((1, 32, 32, 1)))
  v = v["params"]
  # Level i has width * min(2^i, 8) filters; each decoder input but the innermost's is
  # its own output concatenated with the encoder's: twice the channels.
  assert [v[f"down{i}"]["kernel"].shape[-1] for i in range(5)] == [4, 8, 16, 32, 32]
  assert v["up4"]["kernel"].shape[2:] == (32, 32)          # innermost: no concat
  assert v["up3"]["kernel"].shape[2:] == (64, 16)
  assert v["up0"]["kernel"].shape[2:] == (8, 1)
  assert "bias" in v["up0"] and "bias" not in v["up1"]      # no bias before a BatchNorm


def test_resize_upsampling_swaps_only_the_decoders_kernels_for_3x3_ones():
  x = jax.random.normal(jax.random.key(0), (2, 16, 16, 1))
  shapes, counts = {}, {}
  for upsample in UPSAMPLING:
    g = UNetGenerator(channels=3, width=4, upsample=upsample)
    v = g.init(jax.random.key(1), x, train=False)
    y, _ = g.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
    assert y.shape == (2, 16, 16, 3) and float(jnp.max(jnp.abs(y))) <= 1.0
    assert float(jnp.std(y)) > 0
    shapes[upsample] = jax.tree.map(jnp.shape, v)
    counts[upsample] = sum(p.size for p in jax.tree.leaves(v["params"]))
  transposed, resize = shapes["transposed"]["params"], shapes["resize"]["params"]
  ups = [f"up{i}" for i in range(unet_depth(16))]
  # The default is the paper's network: 4x4 transposed kernels, as before the switch.
  assert [transposed[u]["kernel"] for u in ups] == [
      (4, 4, 8, 3), (4, 4, 16, 4), (4, 4, 32, 8), (4, 4, 32, 16)]
  assert counts["transposed"] == 24_512 + 3 + 104  # Kernels, up0's bias, BatchNorms.
  # resize: the same layers, names, channels and biases; every decoder kernel is 3x3.
  assert jax.tree.structure(shapes["resize"]) == jax.tree.structure(shapes["transposed"])
  assert [resize[u]["kernel"] for u in ups] == [
      (3, 3, 8, 3), (3, 3, 16, 4), (3, 3, 32, 8), (3, 3, 32, 16)]
  assert {k: v for k, v in resize.items() if k not in ups} == {
      k: v for k, v in transposed.items() if k not in ups}
  assert counts["transposed"] - counts["resize"] == (16 - 9) * (8 * 3 + 16 * 4 + 32 * 8 + 32 * 16)
  with pytest.raises(ValueError, match="upsample must be one of"):
    UNetGenerator(channels=1, width=4, upsample="bilinear").init(jax.random.key(0), x)


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3])
def test_patchgan_logit_sees_exactly_its_receptive_field(n_layers):
  d = PatchGANDiscriminator(n_layers=n_layers, width=2)
  size = 160 if n_layers == 3 else 64
  x = jax.random.normal(jax.random.key(0), (1, size, size, 2))
  v = d.init(jax.random.key(1), x, train=False)
  out = d.apply(v, x, train=False)
  i = out.shape[1] // 2
  grad = jax.grad(lambda x: d.apply(v, x, train=False)[0, i, i, 0])(x)
  rows = np.flatnonzero(np.any(np.asarray(grad[0]) != 0, axis=(1, 2)))
  assert rows[-1] - rows[0] + 1 == receptive_field(n_layers) == [1, 16, 34, 70][n_layers]


# --------------------------------------------------------------------------- data


def test_digits_tasks_make_sources_the_baselines_cannot_solve(data_dir):
  pairs = {t: paired.load_pairs(t, "test", size=32, data_dir=data_dir)
           for t in paired.DIGITS_TASKS}
  for task, p in pairs.items():
    assert p.source.shape == p.target.shape == (300, 32, 32, 1) and len(p.labels) == 300
    assert p.source.dtype == np.uint8 and np.mean(pixel_metrics.l1(*p.as_float())) > 0.05
  np.testing.assert_array_equal(pairs["digits_halves"].source[:, :, 16:], 0)
  np.testing.assert_array_equal(pairs["digits_halves"].source[:, :, :16],
                                pairs["digits_halves"].target[:, :, :16])
  assert np.all(pairs["digits_edges"].source.max(axis=(1, 2, 3)) == 255)
  # 4x4 -> 32x32: every source is a combination of the 16 bilinear upsamplings of one
  # 4x4 pixel (up to rounding to uint8): it holds 16 numbers' worth of the digit.
  basis = jax.image.resize(jnp.eye(16).reshape(16, 4, 4, 1), (16, 32, 32, 1), "linear")
  basis = np.asarray(basis).reshape(16, -1).T
  src = pairs["digits_superres"].source[:20].reshape(20, -1).T / 255.0
  fit = basis @ np.linalg.lstsq(basis, src, rcond=None)[0]
  assert np.max(np.abs(fit - src)) < 1.5 / 255


def _aligned_folder(root, *, sizes=((20, 10), (16, 12)), mode="RGB"):
  """train/ and test/ of A|B images: A red-ish, B blue-ish."""
  for split in ("train", "test"):
    os.makedirs(root / split, exist_ok=True)
    for k, (w, h) in enumerate(sizes):
      a = Image.new(mode, (w // 2, h), (200, 10, 10) if mode == "RGB" else 200)
      b = Image.new(mode, (w // 2, h), (10, 10, 200) if mode == "RGB" else 20)
      im = Image.new(mode, (w, h))
      im.paste(a, (0, 0))
      im.paste(b, (w // 2, 0))
      im.save(root / split / f"{k}.png")
  return str(root)


def test_aligned_folders_split_each_image_into_a_and_b(tmp_path):
  folder = _aligned_folder(tmp_path)
  p = paired.load_pairs("aligned", "train", size=8, channels=3, folder=folder)
  assert p.source.shape == (2, 8, 8, 3) and p.labels is None
  assert np.all(p.source[..., 0] > 150) and np.all(p.target[..., 2] > 150)
  swapped = paired.load_pairs("aligned", "train", size=8, channels=3, folder=folder,
                              direction="BtoA")
  np.testing.assert_array_equal(swapped.source, p.target)
  gray = paired.load_pairs("aligned", "test", size=8, channels=1, folder=folder)
  assert gray.source.shape == (2, 8, 8, 1)  # RGB files converted to the config's channels.


@pytest.mark.parametrize("damage,match", [
    ("empty", r"^no images \(.*\) in .*train$"),
    ("no_test", r"^no folder .*test$"),
    ("unreadable", r"^cannot read image .*bad\.png"),
    ("odd", r"is 15x8: an aligned image holds A and B side by side"),
])
def test_bad_aligned_folders_are_one_line_errors(tmp_path, damage, match):
  folder = _aligned_folder(tmp_path)
  if damage == "empty":
    for f in os.listdir(tmp_path / "train"):
      os.remove(tmp_path / "train" / f)
  elif damage == "no_test":
    for f in os.listdir(tmp_path / "test"):
      os.remove(tmp_path / "test" / f)
    os.rmdir(tmp_path / "test")
  elif damage == "unreadable":
    (tmp_path / "train" / "bad.png").write_bytes(b"not a png")
  else:
    Image.new("RGB", (15, 8)).save(tmp_path / "train" / "odd.png")
  with pytest.raises(paired.PairedDataError, match=match) as e:
    paired.load_pairs("aligned", "train", size=8, channels=3, folder=folder)
  assert "\n" not in str(e.value)


def test_sources_and_targets_of_different_sizes_are_refused():
  with pytest.raises(paired.PairedDataError, match="differ in size"):
    paired.Pairs(np.zeros((2, 8, 8, 1), np.uint8), np.zeros((2, 16, 16, 1), np.uint8))


def test_jitter_crops_and_flips_both_images_alike_and_shards_split_one_global_batch():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (10, 12, 12, 1), dtype=np.uint8)
  pairs = paired.Pairs(images, 255 - images)
  kw = dict(resolution=8, flip=True, seed=3)
  whole = next(paired.batches(pairs, batch_size=6, **kw))
  assert whole["source"].shape == (6, 8, 8, 1)
  np.testing.assert_allclose(whole["target"], -whole["source"], atol=1e-6)  # Same crop, flip.
  halves = [next(paired.batches(pairs, batch_size=3, shard_index=i, shard_count=2, **kw))
            for i in range(2)]
  np.testing.assert_array_equal(np.concatenate([h["source"] for h in halves]), whole["source"])
  crops = {tuple(b["source"][0].ravel()[:4]) for b in
           (next(paired.batches(pairs, batch_size=6, resolution=8, flip=False, seed=s))
            for s in range(4))}
  assert len(crops) > 1  # Seeds draw other crops.


# --------------------------------------------------------------------------- step


def test_l1_loss_is_the_mean_absolute_difference():
  assert float(losses.l1_loss(jnp.ones((2, 3)), jnp.zeros((2, 3)))) == 1.0
  with pytest.raises(ValueError, match="one shape"):
    losses.l1_loss(jnp.ones((2, 3)), jnp.ones((3, 2)))


def _fixed_batch(c, n=4):
  r = c.resolution
  coarse = jax.random.uniform(jax.random.key(5), (1, n, 4, 4, 1), minval=-1, maxval=1)
  source = jax.image.resize(coarse, (1, n, r, r, 1), "linear")
  return {"source": source, "target": -source}  # Invert a smooth image: a learnable map.


@pytest.mark.parametrize("overrides,metrics", [
    ({}, {"g_l1", "g_gan", "d_loss"}),
    ({"gan_weight": 0.0}, {"g_l1", "d_loss"}),            # L1 only
    ({"conditional_d": False}, {"g_l1", "g_gan"}),       # L1 + unconditional GAN
])
def test_the_step_learns_a_fixed_pair_under_every_objective(overrides, metrics):
  c = tiny(num_steps=15, width=8, **overrides)  # The learning rates decay to 0 at num_steps.
  c.optimizer.g_learning_rate = 2e-3
  fam = pix2pix.FAMILY
  state = fam.create_state(c, jax.random.key(0))
  d_in = state.discriminator.params["conv0"]["kernel"].shape[2]
  assert d_in == (2 if c.conditional_d else 1)  # D sees (source, image) or the image.
  step = jax.jit(fam.step(c))
  batch = _fixed_batch(c)
  first = None
  for i in range(15):
    state, m = step(state, batch, jax.random.key(i))
    first = first if first is not None else float(m["g_l1"])
  assert metrics <= set(m) and ("g_gan" in m) == bool(c.gan_weight)
  assert float(m["g_l1"]) < 0.8 * first and int(state.step) == 15


@pytest.mark.parametrize("overrides", [{}, {"d_layers": 0, "normalization": "instance"}],
                         ids=["patchgan_batch_norm", "pixelgan_instance_norm"])
def test_spectral_norm_switch_normalises_every_kernel_of_the_patchgan(overrides):
  # Instance norm: a D with no batch_stats until spectral_norm gives it u and sigma.
  c = tiny(**overrides)
  check_spectral_norm(c, _fixed_batch(c))


def test_the_d_loss_is_half_the_loss_pair():
  c = tiny(width=2, d_width=2)
  state = pix2pix.FAMILY.create_state(c, jax.random.key(0))
  three = lambda real, fake: 3.0 + 0.0 * jnp.mean(real - fake)  # noqa: E731
  step = jax.jit(functools.partial(pix2pix.pix2pix_step, g_loss_fn=jnp.mean, d_loss_fn=three,
                                   l1_weight=100.0, gan_weight=1.0, conditional_d=True))
  _, m = step(state, _fixed_batch(c), jax.random.key(0))
  assert float(m["d_loss"]) == 1.5


def test_the_upsample_field_reaches_the_generator_and_a_resize_unet_trains():
  c = tiny(width=4, upsample="resize")
  train.check_config(c)
  state = pix2pix.FAMILY.create_state(c, jax.random.key(0))
  g = state.generator.params
  assert {g[f"up{i}"]["kernel"].shape[:2] for i in range(unet_depth(8))} == {(3, 3)}
  state, m = jax.jit(pix2pix.FAMILY.step(c))(state, _fixed_batch(c), jax.random.key(1))
  assert int(state.step) == 1 and all(np.isfinite(float(v)) for v in m.values())


# --------------------------------------------------------------------------- test-time modes


def test_paper_mode_translates_each_image_on_its_own_and_eval_mode_is_deterministic():
  c = tiny(width=4)
  state = pix2pix.FAMILY.create_state(c, jax.random.key(0))
  x = np.asarray(jax.random.uniform(jax.random.key(1), (3, 8, 8, 1), minval=-1, maxval=1))
  key = jax.random.key(7)
  paper = pix2pix.translator(c)
  a = paper(state, x[:2], key)
  b = paper(state, np.stack([x[0], x[2]]), key)
  np.testing.assert_allclose(a[0], b[0], atol=1e-6)  # Not normalised by its batch-mates.
  assert not np.allclose(a[0], paper(state, x[:2], jax.random.key(8))[0])  # Dropout on.
  c.test_mode = "eval"
  ev = pix2pix.translator(c)
  np.testing.assert_allclose(ev(state, x, key), ev(state, x, jax.random.key(8)))


# --------------------------------------------------------------------------- configs


def test_every_variant_checks_and_bad_values_are_one_line_errors(tmp_path):
  for variant in pix2pix_configs.VARIANTS:
    c = pix2pix_configs.get_config(variant)
    assert c.family == "pix2pix"
    if variant == "aligned":
      assert (c.resolution, c.load_size, c.batch_size, c.flip) == (256, 286, 1, True)
      with pytest.raises(ConfigError, match="reads --config.folder=PATH"):
        train.check_config(c)
      c.folder = _aligned_folder(tmp_path)
    train.check_config(c)
  for field, value, match in [("resolution", 20, "power of two >= 8"),
                              ("load_size", 16, "load_size 16 must be >= resolution 32"),
                              ("d_layers", 4, "needs images of at least 48 px"),
                              ("test_mode", "train", "unknown test_mode"),
                              ("upsample", "bilinear", "unknown upsample 'bilinear'"),
                              ("dataset", "digits", "pix2pix reads paired data"),
                              ("channels", 3, "grayscale"),
                              ("l1_weight", 0.0, None)]:
    c = pix2pix_configs.get_config("edges")
    setattr(c, field, value)
    if field == "l1_weight":  # cGAN only is the paper's ablation: valid; with no GAN, not.
      train.check_config(c)
      c.gan_weight, match = 0.0, "not both 0"
    with pytest.raises(ConfigError, match=match) as e:
      train.check_config(c)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
  """The tiny edges task trained 4 steps, and a digits classifier at 8x8."""
  root = tmp_path_factory.mktemp("pix2pix")
  c = tiny(data_dir, num_sample_images=12)
  workdir = str(root / "run")
  train.train_and_evaluate(c, workdir)
  clf_dir = str(root / "classifier")
  classifier.get_classifier("digits", resolution=8, channels=1, data_dir=data_dir,
                            directory=clf_dir, num_steps=20, log=lambda *_: None)
  return workdir, clf_dir


def test_a_run_writes_triplet_grids_and_evaluates_against_its_baselines(trained):
  workdir, clf_dir = trained
  grid = np.asarray(Image.open(os.path.join(workdir, "samples", "step_000004.png")))
  # 12 images: 4 triplets, two (source | output | target) triplets per row.
  expected = images.make_grid(np.zeros((12, 8, 8, 1)), ncols=6).shape
  scale = grid.shape[0] // expected[0]
  assert grid.shape[:2] == (expected[0] * scale, expected[1] * scale)
  result = evaluate.evaluate(workdir, evaluate.Options(classifier_dir=clf_dir,
                                                       log=lambda *_: None))
  for metric in ("l1", "psnr", "ssim", "accuracy", "fcd"):
    for suffix in ("", "_identity", "_mean"):
      assert np.isfinite(result[metric + suffix]), metric + suffix
  assert result["num_test_pairs"] == 300 and result["test_mode"] == "paper"
  assert 0.2 < result["accuracy_real_targets"] <= 1.0  # A classifier trained 20 steps.
  # The z -> x sections do not apply to a translation family: absent, not "skipped".
  assert "precision" not in result and "inversion_psnr_heldout" not in result
  assert result["skipped"] == {}
  title, header, _, *rows = evaluate.format_table(result).splitlines()
  assert "the test split translated (paper mode)" in title
  assert header.split() == ["metric", "translated", "(300)", "source", "as", "output", "mean",
                            "target"]
  assert [r.split()[0] for r in rows[:5]] == ["l1", "psnr", "ssim", "accuracy", "fcd"]


def _translate(*args):
  return run_module("experiments.translate", *args)


def test_translate_brings_any_image_back_to_its_own_size(trained, tmp_path):
  workdir, _ = trained
  inputs = tmp_path / "in"
  inputs.mkdir()
  Image.new("RGB", (20, 13), (90, 30, 200)).save(inputs / "wide.png")
  Image.new("L", (9, 9), 128).save(inputs / "small.jpg")
  out = tmp_path / "out"
  r = _translate(f"--workdir={workdir}", f"--input={inputs}", f"--out={out}", "--fit=pad")
  assert r.returncode == 0, r.stderr
  assert r.stdout.strip().startswith("translated 2 images with the generator of step 4")
  assert Image.open(out / "wide.png").size == (20, 13)
  assert Image.open(out / "small.png").size == (9, 9)
  assert Image.open(out / "small.png").mode == "L"
  before = (out / "wide.png").read_bytes()
  for args, match in [([f"--input={inputs}", f"--out={out}"], "exists"),
                      ([f"--input={tmp_path / 'nothing'}", f"--out={out}"], "no file or folder"),
                      ([f"--input={inputs}", f"--out={out}", "--aligned", "--overwrite"],
                       "is 9x9: an aligned image")]:
    r = _translate(f"--workdir={workdir}", *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and match in lines[0], r.stderr
  assert (out / "wide.png").read_bytes() == before  # Nothing lost.
  r = run_module("experiments.sample", f"--workdir={workdir}")
  lines = [line for line in r.stderr.splitlines() if not re.match(r"[IW]\d{4} ", line)]
  assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
  assert lines[0].startswith("error: a pix2pix run translates images") and "translate" in lines[0]


def test_the_training_entry_point_refuses_a_bad_resolution_in_one_line(tmp_path):
  r = run_module("experiments.pix2pix", "--config=experiments/configs/pix2pix.py:halves",
           "--config.resolution=20", f"--workdir={tmp_path / 'w'}")
  lines = r.stderr.strip().splitlines()
  assert r.returncode == 2 and lines == [f"error: {lines[0][7:]}"], r.stderr[-3000:]
  assert "power of two >= 8" in lines[0]
  assert not os.path.exists(tmp_path / "w" / "config.json")

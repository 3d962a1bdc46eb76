"""CycleGAN and DiscoGAN: networks, unpaired data, the image pool, both steps, runs,
resume with the pools, evaluation and translate in both directions."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from ganjax import evaluate, image_pool, images, train, unpaired
from ganjax.config import ConfigError
from ganjax.families import cyclegan, discogan
from ganjax.models.cyclegan import ResNetGenerator
from ganjax.models.dcgan import DCGANDiscriminator
from ganjax.models.discogan import DiscoGANGenerator
from ganjax.models.pix2pix import PatchGANDiscriminator
from ganjax.restore import load_trained
from experiments.configs import cyclegan as cyclegan_configs
from experiments.configs import discogan as discogan_configs
from conftest import built_once, check_spectral_norm, run_module, shared_root, shrink


def tiny_cyclegan(data_dir="", variant="invert", **overrides):
  """CycleGAN at 8x8 with 4-filter networks and one residual block: seconds to train."""
  c = shrink(cyclegan_configs.get_config(variant), data_dir)
  c.resolution, c.load_size, c.d_layers, c.d_width, c.batch_size = 8, 10, 1, 4, 2
  c.res_blocks, c.pool_size = 1, 3
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def tiny_discogan(data_dir="", variant="invert", **overrides):
  """DiscoGAN at 16x16 (its smallest) with 4-filter networks."""
  c = shrink(discogan_configs.get_config(variant), data_dir)
  c.resolution, c.load_size, c.batch_size, c.gan_curriculum = 16, 16, 4, 2
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _count(params):
  return sum(x.size for x in jax.tree.leaves(params))


def _init(module, shape):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(shape),
                                            train=False))["params"]


# --------------------------------------------------------------------------- networks


def test_networks_have_the_references_parameter_counts():
  # Printed by junyanz/pytorch-CycleGAN-and-pix2pix for resnet_9blocks and basic D at 256.
  assert _count(_init(ResNetGenerator(channels=3, res_blocks=9), (1, 256, 256, 3))) == 11_378_179
  assert _count(_init(PatchGANDiscriminator(normalization="instance"),
                      (1, 256, 256, 3))) == 2_764_737
  # SKTBrain/DiscoGAN at 64x64: convs 3-64-128-256-512 and back, no biases, BatchNorm
  # (scale and shift) on the 3 inner encoder and 3 inner decoder layers.
  convs = 16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512) * 2
  assert _count(_init(DiscoGANGenerator(channels=3), (1, 64, 64, 3))) == convs + 2 * (
      128 + 256 + 512 + 256 + 128 + 64)


def test_resnet_generator_keeps_the_size_and_its_blocks_are_residual():
  g = ResNetGenerator(channels=1, width=4, res_blocks=2)
  x = jax.random.normal(jax.random.key(0), (2, 12, 12, 3))
  v = g.init(jax.random.key(1), x, train=False)
  y = g.apply(v, x, train=False)
  assert y.shape == (2, 12, 12, 1) and float(jnp.max(jnp.abs(y))) <= 1.0
  # Zeroing the second convolution of every block makes each block the identity: the
  # output then equals a generator with no blocks at all, with the same other weights.
  p = jax.tree.map(jnp.asarray, v["params"])
  zeroed = {k: (jax.tree.map(jnp.zeros_like, w) if k.endswith("_b") else w)
            for k, w in p.items()}
  none = ResNetGenerator(channels=1, width=4, res_blocks=0)
  kept = {k: w for k, w in p.items() if not k.startswith("res")}
  np.testing.assert_allclose(g.apply({"params": zeroed}, x, train=False),
                             none.apply({"params": kept}, x, train=False), atol=1e-6)


def test_dcgan_discriminator_exposes_every_normalised_layer_for_feature_matching():
  d = DCGANDiscriminator(resolution=32, width=4)
  x = jnp.zeros((2, 32, 32, 1))
  v = d.init(jax.random.key(0), x, train=False)
  _, state = d.apply(v, x, train=True, mutable=["batch_stats", "intermediates"])
  shapes = {k: v[0].shape for k, v in state["intermediates"].items()}
  assert shapes == {"layer1": (2, 8, 8, 8), "layer2": (2, 4, 4, 16), "features": (2, 256)}


# --------------------------------------------------------------------------- data


def test_digits_domains_are_disjoint_in_training_and_paired_in_the_test_split(data_dir):
  train_d = unpaired.load_domains("digits_invert", "train", size=8, data_dir=data_dir)
  test_d = unpaired.load_domains("digits_invert", "test", size=8, data_dir=data_dir)
  assert len(train_d.a) + len(train_d.b) == 1497 and not train_d.paired
  # No B training image is the inverse of an A training image: disjoint halves.
  a_set = {x.tobytes() for x in train_d.a}
  assert sum((255 - x).tobytes() in a_set for x in train_d.b) < 5  # (duplicated digits)
  assert test_d.paired and len(test_d.a) == len(test_d.labels) == 300
  np.testing.assert_array_equal(test_d.b, 255 - test_d.a)
  rot = unpaired.load_domains("digits_rotate", "test", size=8, data_dir=data_dir)
  np.testing.assert_array_equal(rot.b, np.rot90(rot.a, axes=(1, 2)))
  bold = unpaired.load_domains("digits_bold", "test", size=8, data_dir=data_dir)
  assert bold.b.astype(int).sum() > bold.a.astype(int).sum() * 1.3  # Bolder ink.


def test_font_digits_render_each_class_differently_per_draw():
  labels = np.arange(10).repeat(2)
  fonts = unpaired._font_digits(labels, 32, seed=0)
  assert fonts.shape == (20, 32, 32, 1) and fonts.dtype == np.uint8
  assert all(fonts[i].max() == 255 for i in range(20))
  assert not np.array_equal(fonts[0], fonts[1])                 # Same class, another draw.
  np.testing.assert_array_equal(fonts, unpaired._font_digits(labels, 32, seed=0))


def _unpaired_folder(root, *, a_mode="RGB", b_mode="L"):
  for split in unpaired.FOLDER_SPLITS:
    os.makedirs(root / split)
    mode = a_mode if split.endswith("A") else b_mode
    for i, size in enumerate(((12, 10), (9, 9), (20, 7))):
      Image.new(mode, size, 40 * i + 20).save(root / split / f"{i}.png")
  return str(root)


def test_unpaired_folders_convert_channels_and_sizes(tmp_path):
  folder = _unpaired_folder(tmp_path / "f")
  d = unpaired.load_domains("folder", "train", size=8, channels=3, folder=folder)
  assert d.a.shape == d.b.shape == (3, 8, 8, 3) and not d.paired   # L converted to RGB.
  assert np.all(d.b[..., 0] == d.b[..., 1])


@pytest.mark.parametrize("damage,match", [
    (lambda root: [os.remove(root / "testB" / f) for f in os.listdir(root / "testB")],
     "no images"),
    (lambda root: (root / "trainA" / "0.png").write_bytes(b"not a png"), "cannot read image"),
    (lambda root: os.rename(root / "trainB", root / "train_b"), "no folder"),
])
def test_bad_unpaired_folders_are_one_line_errors(tmp_path, damage, match):
  folder = _unpaired_folder(tmp_path / "f")
  damage(tmp_path / "f")
  c = tiny_cyclegan(variant="folder", folder=folder, channels=3)
  with pytest.raises(ConfigError, match=match) as e:
    train.check_config(c)
    cyclegan.load_domains(c, "train")
  assert "\n" not in str(e.value)


def test_tfds_cycle_gan_datasets_are_read_by_their_four_splits(tmp_path):
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=3, data_dir=str(tmp_path)):
    d = unpaired.load_domains("cycle_gan/horse2zebra", "test", size=8, channels=3)
  assert d.a.shape == d.b.shape == (3, 8, 8, 3) and d.a.dtype == np.uint8


def test_batches_draw_each_domain_independently_and_shards_split_one_global_batch():
  rng = np.random.default_rng(0)
  d = unpaired.Domains(rng.integers(0, 255, (5, 10, 10, 1), dtype=np.uint8),
                       rng.integers(0, 255, (7, 10, 10, 1), dtype=np.uint8))
  whole = next(unpaired.batches(d, batch_size=4, resolution=8, flip=True, seed=3))
  halves = [next(unpaired.batches(d, batch_size=2, resolution=8, flip=True, seed=3,
                                  shard_index=i, shard_count=2)) for i in range(2)]
  for key in ("a", "b"):
    assert whole[key].shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(whole[key], np.concatenate([h[key] for h in halves]))


# --------------------------------------------------------------------------- image pool


def test_the_pool_stores_until_full_then_swaps_half_the_time():
  pool = image_pool.create(3, (1,))
  first = jnp.arange(2.0)[:, None]
  out, pool = image_pool.query(pool, first, jax.random.key(0))
  np.testing.assert_array_equal(out, first)                      # Not full: returned as is.
  assert int(pool.count) == 2
  out, pool = image_pool.query(pool, jnp.array([[2.0], [3.0]]), jax.random.key(1))
  assert int(pool.count) == 3 and out[0, 0] == 2.0               # The third fills it.
  swapped, query = 0, jax.jit(image_pool.query)
  for i in range(200):
    new = jnp.full((1, 1), 100.0 + i)
    out, pool = query(pool, new, jax.random.key(i + 2))
    if out[0, 0] != new[0, 0]:
      swapped += 1
      assert new[0, 0] in np.asarray(pool.images)                # Stored in its place.
  assert 70 < swapped < 130                                      # Probability 1/2.
  assert image_pool.create(0, (1,)) is None                      # Size 0: no pool,
  same, _ = image_pool.query(None, new, jax.random.key(0))
  np.testing.assert_array_equal(same, new)                       # D sees the newest.


# --------------------------------------------------------------------------- steps


def _batch(c, seed=0):
  shape = (1, c.batch_size, c.resolution, c.resolution, c.channels)
  ka, kb = jax.random.split(jax.random.key(seed))
  return {"a": jnp.tanh(jax.random.normal(ka, shape)), "b": jnp.tanh(jax.random.normal(kb, shape))}


def _changed(before, after):
  return not all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(before),
                                                      jax.tree.leaves(after)))


@pytest.mark.parametrize("overrides,present,absent", [
    ({}, {"cycle_a", "cycle_b", "identity_a", "identity_b"}, set()),
    ({"cycle_weight_b": 0.0, "identity_weight": 0.0}, {"cycle_a"},
     {"cycle_b", "identity_a", "identity_b"}),
])
def test_the_cyclegan_step_updates_all_four_networks_and_fills_the_pools(overrides, present,
                                                                          absent):
  c = tiny_cyclegan(**overrides)
  state = cyclegan.FAMILY.create_state(c, jax.random.key(0))
  new, m = jax.jit(cyclegan.FAMILY.step(c))(state, _batch(c), jax.random.key(1))
  for net in ("g_ab", "g_ba", "d_a", "d_b"):
    assert _changed(getattr(state, net).params, getattr(new, net).params), net
  assert int(new.pool_a.count) == int(new.pool_b.count) == c.batch_size
  assert present <= set(m) and not absent & set(m)
  assert int(new.step) == 1


def test_cyclegan_losses_are_the_references():
  c = tiny_cyclegan()
  state = cyclegan.FAMILY.create_state(c, jax.random.key(0))
  batch = _batch(c)
  _, m = jax.jit(cyclegan.FAMILY.step(c))(state, batch, jax.random.key(1))
  a, b = batch["a"][0], batch["b"][0]
  g, d = cyclegan.FAMILY.networks(c)
  fake_b = g.apply(state.g_ab.variables(), a, train=True)
  logits = d.apply(state.d_b.variables(), fake_b, train=True)
  # LSGAN as the reference: MSE(D(G(a)), 1), no 1/2.
  np.testing.assert_allclose(m["g_gan_ab"], jnp.mean((logits - 1) ** 2), rtol=1e-5)
  cycle_a = jnp.mean(jnp.abs(g.apply(state.g_ba.variables(), fake_b, train=True) - a))
  np.testing.assert_allclose(m["cycle_a"], cycle_a, rtol=1e-5)
  total = (m["g_gan_ab"] + m["g_gan_ba"] + 10 * (m["cycle_a"] + m["cycle_b"])
           + 0.5 * 10 * (m["identity_a"] + m["identity_b"]))
  np.testing.assert_allclose(m["g_loss"], total, rtol=1e-5)
  # D: 0.5 [MSE(D(b), 1) + MSE(D(fake), 0)]; the pool is not full, so fake is G(a).
  real_logits = d.apply(state.d_b.variables(), b, train=True)
  d_b = 0.5 * (jnp.mean((real_logits - 1) ** 2) + jnp.mean(logits ** 2))
  np.testing.assert_allclose(m["d_b_loss"], d_b, rtol=1e-5)


def test_discogan_updates_d_on_every_third_step_and_g_on_the_others():
  c = tiny_discogan()
  step = jax.jit(discogan.FAMILY.step(c))
  state = discogan.FAMILY.create_state(c, jax.random.key(0))
  rates = []
  for i in range(4):
    new, m = step(state, _batch(c, i), jax.random.key(1))
    d_turn = i % 3 == 0
    assert float(m["d_updated"]) == float(d_turn)
    assert _changed(state.d_a.params, new.d_a.params) == d_turn
    assert _changed(state.g_ab.params, new.g_ab.params) == (not d_turn)
    # The waiting side's optimizer state is untouched too.
    assert _changed(state.g_ab.opt_state, new.g_ab.opt_state) == (not d_turn)
    rates.append(float(m["rate"]))
    state = new
  assert rates == pytest.approx([0.01, 0.01, 0.5, 0.5])          # gan_curriculum = 2.
  assert set(m) >= {"g_fm_a", "g_fm_b", "g_gan_a", "recon_a", "recon_b", "d_loss"}


@pytest.mark.parametrize("make", [tiny_cyclegan, tiny_discogan], ids=["cyclegan", "discogan"])
def test_spectral_norm_switch_normalises_every_kernel_of_both_discriminators(make):
  c = make()  # CycleGAN's PatchGANs (instance norm: no batch_stats without it); DCGAN's.
  state, step = check_spectral_norm(c, _batch(c), ("d_a", "d_b"), num_steps=31)
  if c.family != "discogan":
    return
  # Step 31 is G's turn: D's BatchNorm averages follow the pass, its u and sigma wait.
  new, m = step(state, _batch(c, 1), jax.random.key(0))
  assert float(m["d_updated"]) == 0.0
  for name in ("d_a", "d_b"):
    stats = [{k: v for k, v in getattr(s, name).batch_stats.items() if k.startswith("Spectral")}
             for s in (state, new)]
    others = [{k: v for k, v in getattr(s, name).batch_stats.items()
               if not k.startswith("Spectral")} for s in (state, new)]
    assert stats[0] and not _changed(*stats) and _changed(*others), name


def test_feature_matching_compares_batch_means_layer_by_layer():
  real = [jnp.ones((4, 2, 2, 3)), jnp.zeros((4, 5))]
  fake = [jnp.zeros((4, 2, 2, 3)), jnp.full((4, 5), 2.0)]
  assert float(discogan.feature_matching_loss(real, fake)) == pytest.approx(1.0 + 4.0)
  shuffled = [real[0][::-1], real[1]]
  assert float(discogan.feature_matching_loss(real, shuffled)) == 0.0


def test_every_variant_checks_and_bad_values_are_one_line_errors(tmp_path):
  folder = _unpaired_folder(tmp_path / "f", a_mode="RGB", b_mode="RGB")
  for module in (cyclegan_configs, discogan_configs):
    for variant in module.VARIANTS:
      c = module.get_config(variant)
      if c.dataset == "folder":
        c.folder = folder
      if c.dataset.startswith("cycle_gan/"):
        continue  # TFDS: checked by name only (test_tfds_cycle_gan_datasets_...).
      train.check_config(c)
  for make, field, value, match in [
      (tiny_cyclegan, "d_steps", 2, "d_steps must be 1"),
      (tiny_cyclegan, "resolution", 10, "multiple of 4"),
      (tiny_cyclegan, "generator", "vgg", "unknown generator"),
      (tiny_cyclegan, "pool_size", -1, "pool_size"),
      (tiny_cyclegan, "channels", 3, "grayscale"),
      (tiny_cyclegan, "dataset", "horses", "dataset is one of"),
      (tiny_cyclegan, "gan_weight", 0.0, "gan_weight must be > 0"),
      (tiny_discogan, "resolution", 24, "resolution must be one of"),
      (tiny_discogan, "update_interval", 1, "update_interval"),
      (tiny_discogan, "default_rate", 2.0, "default_rate"),
  ]:
    with pytest.raises(ConfigError, match=match) as e:
      train.check_config(make(**{field: value}))
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
  """Tiny CycleGAN and DiscoGAN runs on digits_invert, and a digits classifier at 8x8."""
  def build(root):
    for name, c in (("cyclegan", tiny_cyclegan(data_dir, num_sample_images=12)),
                    ("discogan", tiny_discogan(data_dir, num_sample_images=12, num_steps=2))):
      train.train_and_evaluate(c, os.path.join(root, name))

  os.environ.setdefault("GANJAX_CACHE_DIR", str(shared_root(tmp_path_factory) / "cache"))
  root = built_once(tmp_path_factory, "cyclegan_runs", build)
  return {name: os.path.join(root, name) for name in ("cyclegan", "discogan")}


def test_a_cyclegan_run_writes_round_trip_grids(trained):
  grid = np.asarray(Image.open(os.path.join(trained["cyclegan"], "samples", "step_000004.png")))
  # 12 images: 2 rows of a | G(a) | F(G(a)) | b | F(b) | G(F(b)).
  expected = images.make_grid(np.zeros((12, 8, 8, 1)), ncols=6).shape
  scale = grid.shape[0] // expected[0]
  assert grid.shape[:2] == (expected[0] * scale, expected[1] * scale)


def test_a_resumed_cyclegan_run_is_the_uninterrupted_one_pools_included(trained, tmp_path,
                                                                         data_dir):
  c = lambda n: tiny_cyclegan(data_dir, num_steps=n, checkpoint_every=2, sample_every=100)
  train.train_and_evaluate(c(2), str(tmp_path / "resumed"))
  resumed = train.train_and_evaluate(c(4), str(tmp_path / "resumed"))
  _, straight = load_trained(trained["cyclegan"])
  assert int(resumed.pool_a.count) == 3                           # Full: 2 images a step.
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(x, y)


def test_a_run_without_pools_checkpoints_and_resumes(tmp_path, data_dir):
  c = lambda n: tiny_cyclegan(data_dir, num_steps=n, pool_size=0, checkpoint_every=1,
                              sample_every=100)
  train.train_and_evaluate(c(1), str(tmp_path))
  state = train.train_and_evaluate(c(2), str(tmp_path))
  assert int(state.step) == 2 and state.pool_a is None and state.pool_b is None


def test_evaluation_scores_both_directions_against_the_true_counterparts(trained):
  result = evaluate.evaluate(trained["cyclegan"], evaluate.Options(log=lambda *_: None))
  for direction in ("a2b", "b2a"):
    for metric in ("l1", "psnr", "accuracy", "fcd"):
      for suffix in ("", "_identity"):
        assert np.isfinite(result[f"{direction}_{metric}{suffix}"]), (direction, metric)
    assert 0 <= result[f"{direction}_cycle_l1"] <= 2
  assert result["num_test_images"] == 600 and result["skipped"] == {}
  # Inverted digits: the identity output is the exact opposite of its counterpart.
  assert result["a2b_l1_identity"] > 0.5
  assert "precision" not in result
  table = evaluate.format_table(result)
  assert "a2b_cycle_l1" in table


def test_translate_runs_either_direction_and_refuses_one_a_run_cannot_do(trained, tmp_path):
  inputs = tmp_path / "in"
  inputs.mkdir()
  Image.new("L", (11, 9), 200).save(inputs / "x.png")
  # Each direction once (one subprocess each), the two families between them.
  for run, direction in (("cyclegan", "BtoA"), ("discogan", "AtoB")):
    out = tmp_path / f"{run}_{direction}"
    r = run_module("experiments.translate", f"--workdir={trained[run]}", f"--input={inputs}",
                   f"--out={out}", f"--direction={direction}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"({direction})" in r.stdout and Image.open(out / "x.png").size == (11, 9)
  # A pix2pix run translates its own direction only; a DCGAN run translates nothing.
  from experiments.configs import dcgan, pix2pix
  for config, direction, match in [(pix2pix.get_config(), "BtoA", "translates AtoB only"),
                                   (dcgan.get_config(), "AtoB", "translate needs a run")]:
    workdir = tmp_path / config.family
    workdir.mkdir()
    (workdir / "config.json").write_text(config.to_json_best_effort())
    r = run_module("experiments.translate", f"--workdir={workdir}", f"--input={inputs}",
             f"--out={tmp_path / 'never'}", f"--direction={direction}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and match in lines[0], r.stderr[-2000:]
    assert not (tmp_path / "never").exists()

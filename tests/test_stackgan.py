"""StackGAN: its losses, networks, captioned batches, both stages, the CLI with typed
captions, and its evaluation."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import losses


def _softplus(x):
  return np.log1p(np.exp(x))


# --------------------------------------------------------------------------- losses


def test_matching_aware_discriminator_loss_weighs_the_terms_as_the_references():
  r, w, f, ur, uf = 1.0, -2.0, 0.5, 0.3, -0.7
  bce1, bce0 = (lambda x: _softplus(-x)), _softplus  # BCE(x, 1), BCE(x, 0)
  # Reed et al. (Stage I): real + (wrong + fake) / 2.
  got = losses.matching_aware_discriminator_loss(jnp.array([r]), jnp.array([w]), jnp.array([f]))
  np.testing.assert_allclose(got, bce1(r) + (bce0(w) + bce0(f)) / 2, rtol=1e-6)
  # StackGAN's Stage II: (real + uncond real) / 2 + (fake + wrong + uncond fake) / 3.
  got = losses.matching_aware_discriminator_loss(
      jnp.array([r]), jnp.array([w]), jnp.array([f]), unconditional_real=jnp.array([ur]),
      unconditional_fake=jnp.array([uf]))
  want = (bce1(r) + bce1(ur)) / 2 + (bce0(f) + bce0(w) + bce0(uf)) / 3
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # No mismatched pairs (the ablation): real + fake.
  got = losses.matching_aware_discriminator_loss(jnp.array([r]), None, jnp.array([f]))
  np.testing.assert_allclose(got, bce1(r) + bce0(f), rtol=1e-6)
  with pytest.raises(ValueError, match="both or neither"):
    losses.matching_aware_discriminator_loss(jnp.array([r]), None, jnp.array([f]),
                                             unconditional_real=jnp.array([ur]))


def test_matching_aware_generator_loss_adds_the_unconditional_term():
  f, uf = np.array([0.5, -1.0]), np.array([2.0, 0.0])
  np.testing.assert_allclose(losses.matching_aware_generator_loss(f),
                             np.mean(_softplus(-f)), rtol=1e-6)
  np.testing.assert_allclose(losses.matching_aware_generator_loss(f, unconditional_fake=uf),
                             np.mean(_softplus(-f)) + np.mean(_softplus(-uf)), rtol=1e-6)


def test_kl_standard_normal_is_the_closed_form_averaged_over_elements():
  assert float(losses.kl_standard_normal(jnp.zeros((4, 3)), jnp.zeros((4, 3)))) == 0.0
  mu, logvar = np.array([[1.0, -0.5]]), np.array([[0.2, -1.0]])
  per = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar)  # KL of each 1-D Gaussian.
  np.testing.assert_allclose(losses.kl_standard_normal(mu, logvar), per.mean(), rtol=1e-6)
  grad_mu = jax.grad(lambda m: losses.kl_standard_normal(m, jnp.zeros(2)))(jnp.array([1.0, 2.0]))
  np.testing.assert_allclose(grad_mu, [0.5, 1.0])  # d/dmu mean(mu^2 / 2) = mu / n.
  with pytest.raises(ValueError, match="one shape"):
    losses.kl_standard_normal(jnp.zeros(3), jnp.zeros(2))


# --------------------------------------------------------------------------- set-up

from ganjax import text_data, train  # noqa: E402
from ganjax.config import ConfigError  # noqa: E402
from ganjax.families import stackgan  # noqa: E402
from experiments.configs import stackgan as stackgan_configs  # noqa: E402
from conftest import built_once, check_spectral_norm, run_module  # noqa: E402


def _build_cache(root):
  """A quickly trained text encoder and captioned-digits classifiers in `root`."""
  from ganjax import captioned_digits, classifier, text_encoder
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("GANJAX_CACHE_DIR", root)
    text_data._load.cache_clear()
    config = tiny()
    d = captioned_digits.load("train", resolution=text_data.ENCODER_RESOLUTION)
    text_encoder.get_text_encoder(
        "captioned_digits", lambda: (d.images, d.captions, None, None),
        resolution=text_data.ENCODER_RESOLUTION, channels=1, num_steps=40, log=lambda _: None)
    for size in (16, 32):
      def load_images(size=size):
        return [(captioned_digits.load(s, resolution=size).images.astype(np.float32) / 127.5
                 - 1.0, captioned_digits.load(s, resolution=size).attributes["label"])
                for s in ("train", "test")]
      classifier.classifier_for_images(f"captioned_digits_{size}", load_images,
                                       resolution=size, channels=1, num_classes=10,
                                       num_steps=40, log=lambda _: None)
    assert text_data.embedding_dim(config) == 128


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  """A cache holding a quickly trained text encoder and captioned-digits classifiers (the
  real ones train for a minute or more each): the family finds them there."""
  root = built_once(tmp_path_factory, "stackgan_cache", _build_cache)
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("GANJAX_CACHE_DIR", root)
    text_data._load.cache_clear()
    yield root
  text_data._load.cache_clear()


def tiny(stage=1, **overrides):
  c = stackgan_configs.get_config("stage1" if stage == 1 else "both")
  c.batch_size, c.num_steps, c.stage1_steps = 8, 2, 2
  c.log_every, c.sample_every, c.checkpoint_every, c.num_sample_images = 1, 2, 2, 16
  c.width, c.d_width, c.latent_dim, c.condition_dim, c.res_blocks = 4, 4, 8, 4, 1
  c.stage1_resolution, c.resolution = 16, 16 if stage == 1 else 32
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


# --------------------------------------------------------------------------- data


def test_a_wrong_caption_never_belongs_to_the_same_group():
  groups = np.array([0, 0, 1, 1, 2, 2, 2, 3])
  index = np.tile(np.arange(8), 50)
  wrong = text_data.wrong_indices(groups, index, np.random.default_rng(0))
  assert np.all(groups[wrong] != groups[index])
  assert set(wrong.tolist()) == set(range(8))  # ... and every other image is drawn.
  # A folder: images sharing a caption text (any case, any spacing) share a group.
  assert text_data._same_groups([("A bird",), ("a  bird", "red"), ("red",), ("blue",)]) \
      .tolist() == [0, 0, 0, 3]
  with pytest.raises(text_data.TextDataError, match="no mismatched"):
    text_data.wrong_indices(np.zeros(4, int), np.arange(4), np.random.default_rng(0))


def test_digits_batches_pair_each_image_with_its_own_and_a_wrong_caption(cache):
  data = text_data.load(tiny(), "train")
  assert data.embeddings.shape == (len(data), 10, 128)
  batch = next(text_data.batches(data, batch_size=16, seed=0))
  assert batch["image"].shape == (16, 16, 16, 1) and batch["image"].min() >= -1
  # Each embedding is one of its image's captions; each wrong one is of another digit.
  for e, w, image in zip(batch["embedding"], batch["wrong_embedding"], batch["image"]):
    i = int(np.flatnonzero(np.all(data.as_float() == image, axis=(1, 2, 3)))[0])
    assert np.any(np.all(data.embeddings[i] == e, axis=1))
    j = np.flatnonzero(np.any(np.all(data.embeddings == w, axis=2), axis=1))
    assert np.all(data.groups[j] != data.groups[i])


# --------------------------------------------------------------------------- step


def test_a_stage2_step_trains_its_networks_and_leaves_stage1_frozen(cache):
  config = tiny(2)
  family = stackgan.FAMILY
  state = family.create_state(config, jax.random.key(0))
  assert state.stage1.opt_state == ()  # No optimizer state for the frozen generator.
  data = text_data.load(config, "train")
  batch = jax.tree.map(lambda x: x[None], next(text_data.batches(data, batch_size=8, seed=0)))
  new, metrics = jax.jit(family.step(config))(state, batch, jax.random.key(1))
  assert int(new.step) == 1 and all(np.isfinite(float(v)) for v in metrics.values())
  for name in ("generator", "discriminator"):
    before, after = getattr(state, name).params, getattr(new, name).params
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before),
                                                        jax.tree.leaves(after)))
  for a, b in zip(jax.tree.leaves((state.stage1.params, state.stage1.batch_stats)),
                  jax.tree.leaves((new.stage1.params, new.stage1.batch_stats))):
    np.testing.assert_array_equal(a, b)
  # The ablations: no conditioning augmentation (c = mu, no KL), no mismatched pairs.
  ablated = tiny(2, augment=False, mismatched_pairs=False)
  state = family.create_state(ablated, jax.random.key(0))
  _, metrics = jax.jit(family.step(ablated))(state, batch, jax.random.key(1))
  assert "d_wrong" not in metrics and float(metrics["g_loss"]) == float(metrics["g_gan"])


def test_spectral_norm_switch_normalises_every_kernel_of_the_discriminator(monkeypatch):
  # Random 8-d embeddings stand in for captions': no text encoder to train.
  monkeypatch.setattr(stackgan.StackGAN, "embedding_dim", lambda self, config: 8)
  c = tiny(2)  # Stage II's D: both logits; K = 2 texts share each layer's u.
  rng = np.random.default_rng(0)
  b, r = c.batch_size, c.resolution
  batch = {"image": rng.uniform(-1, 1, (1, b, r, r, 1)).astype(np.float32),
           "embedding": rng.normal(size=(1, b, 8)).astype(np.float32),
           "wrong_embedding": rng.normal(size=(1, b, 8)).astype(np.float32)}
  check_spectral_norm(c, batch)


def test_stage2_refuses_a_missing_or_mismatched_stage1_run(tmp_path):
  missing = tiny(2, stage1_workdir=str(tmp_path / "nothing"))
  with pytest.raises(ConfigError, match="no trained run there"):
    train.check_config(missing)
  other = tmp_path / "other"
  other.mkdir()
  fields = json.loads(tiny(1).to_json())
  (other / "config.json").write_text(json.dumps({**fields, "resolution": 32}))
  with pytest.raises(ConfigError, match="trained with resolution=32; this Stage II config "
                                        "has stage1_resolution=16"):
    train.check_config(tiny(2, stage1_workdir=str(other)))
  with pytest.raises(ConfigError, match="must be 32 or 64"):
    train.check_config(tiny(2, resolution=128))


# --------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def both_stages(cache, tmp_path_factory):
  """The default command (both stages in turn), shrunk: its work directory."""
  return os.path.join(built_once(tmp_path_factory, "stackgan_both",
                                 lambda root: _run_both_stages(cache, root)), "run")


def _run_both_stages(cache, root):
  workdir = os.path.join(root, "run")
  c = tiny(2)
  overrides = [f"--config.{k}={c[k]}" for k in (
      "batch_size", "num_steps", "stage1_steps", "log_every", "sample_every",
      "checkpoint_every", "num_sample_images", "width", "d_width", "latent_dim",
      "condition_dim", "res_blocks", "stage1_resolution", "resolution")]
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("GANJAX_CACHE_DIR", cache)
    r = run_module("experiments.stackgan", "--config=experiments/configs/stackgan.py",
                   f"--workdir={workdir}", *overrides)
  assert r.returncode == 0, r.stderr[-3000:]


def test_one_command_trains_stage1_then_stage2_on_it(both_stages):
  from ganjax.restore import load_trained
  first_config, first = load_trained(os.path.join(both_stages, "stage1"))
  config, state = load_trained(both_stages)
  assert (first_config.stage, config.stage, int(first.step), int(state.step)) == (1, 2, 2, 2)
  for a, b in zip(jax.tree.leaves(first.generator.params), jax.tree.leaves(state.stage1.params)):
    np.testing.assert_array_equal(a, b)  # Stage II carries Stage I's trained generator.
  assert os.path.exists(os.path.join(both_stages, "samples", "step_000002.png"))
  assert os.path.isdir(os.path.join(both_stages, "text_encoder"))


def test_sample_draws_typed_captions_and_names_unknown_words(both_stages, tmp_path):
  out = str(tmp_path / "typed.png")
  r = run_module("experiments.sample", f"--workdir={both_stages}", f"--out={out}", "--num=8",
                 "--caption=a large slanted three", "--caption=a small 2 in the top left")
  assert r.returncode == 0, r.stderr[-2000:]
  from PIL import Image
  image = np.asarray(Image.open(out))
  assert image.shape[0] > 2 * 14 and image[:14].max() > 200  # Printed caption, then row.
  r = run_module("experiments.sample", f"--workdir={both_stages}", f"--out={out}",
                 "--caption=a large sl4nted three")
  assert r.returncode == 2
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and "sl4nted" in lines[0] and lines[0].startswith("error:"), r.stderr


def test_generate_points_a_stackgan_run_to_sample_captions(both_stages, tmp_path):
  r = run_module("experiments.generate", f"--workdir={both_stages}", f"--out={tmp_path}",
                 "--num=4")
  assert r.returncode == 2 and "--caption" in r.stderr
  assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_evaluation_scores_each_stage_beside_the_real_images(both_stages, cache):
  from ganjax import evaluate
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("GANJAX_CACHE_DIR", cache)
    result = evaluate.evaluate(both_stages, options=evaluate.Options(num_samples=120,
                                                                    log=lambda _: None))
  assert result["num_test_captions"] == 120
  for stage in ("stage1", "stage1_upsampled", "stage2"):
    for key in ("accuracy", "fcd", "classifier_is", "r_precision", "position_accuracy",
                "size_rank_correlation", "diversity_l1"):
      assert f"{stage}_{key}" in result, (stage, key)
    assert 0 <= result[f"{stage}_accuracy"] <= 1 and 0 <= result[f"{stage}_r_precision"] <= 1
  # The real test images, scored alike: their captions were written from them.
  assert result["stage2_position_accuracy_real_baseline"] > 0.95
  assert result["stage2_size_rank_correlation_real_baseline"] > 0.8
  assert result["stage2_fcd_real_baseline"] > 0  # Test against train, not against itself.


# --------------------------------------------------------------------------- your images


def _captioned_folder(root, *, embeddings: bool, n: int = 24):
  """FOLDER/train and FOLDER/test of RGB images with NAME.txt captions (and NAME.npy)."""
  from PIL import Image
  from ganjax import captioned_digits
  d = captioned_digits.load("train", resolution=32)
  for split, offset in (("train", 0), ("test", n)):
    os.makedirs(os.path.join(root, split))
    for i in range(n):
      name = os.path.join(root, split, f"img{i:03d}")
      gray = d.images[offset + i, ..., 0]
      Image.fromarray(np.stack([gray] * 3, -1)).resize((40, 40)).save(name + ".png")
      caps = d.captions[offset + i][:3]
      with open(name + ".txt", "w") as f:
        f.write("\n".join(caps) + "\n")
      if embeddings:
        np.save(name + ".npy", np.random.default_rng(i).normal(size=(len(caps), 12)))
  return str(root)


def test_a_captioned_folder_with_its_own_embeddings_trains_and_refuses_typed_text(tmp_path):
  folder = _captioned_folder(tmp_path / "birds", embeddings=True)
  config = tiny(1, dataset="folder", folder=folder, channels=3)
  train.check_config(config)
  assert not text_data.has_text_encoder(config) and text_data.embedding_dim(config) == 12
  data = text_data.load(config, "train")
  assert data.images.shape == (24, 16, 16, 3) and data.embeddings.shape == (24, 3, 12)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  assert not os.path.exists(os.path.join(workdir, "text_encoder"))
  with pytest.raises(ValueError, match="precomputed embeddings"):
    stackgan.FAMILY.caption_grid_inputs(config, workdir, ["a bird"], jax.random.key(0), 4)


def test_a_captioned_folder_without_embeddings_gets_its_own_text_encoder(tmp_path,
                                                                         monkeypatch):
  monkeypatch.setenv("GANJAX_CACHE_DIR", str(tmp_path / "cache"))
  folder = _captioned_folder(tmp_path / "digits", embeddings=False)
  config = tiny(1, dataset="folder", folder=folder, channels=3)
  data = text_data.load(config, "test", log=lambda _: None)
  assert data.embeddings.shape == (24, 3, 128) and data.attributes is None
  encoder = text_data.text_encoder(config)  # Trained once, then cached.
  np.testing.assert_allclose(encoder.embed_captions([data.captions[0][0]])[0],
                             data.embeddings[0, 0], rtol=1e-4, atol=1e-4)
  assert os.listdir(os.path.join(str(tmp_path / "cache"), "text_encoders"))


def test_bad_captioned_folders_are_one_line(tmp_path):
  folder = _captioned_folder(tmp_path / "f", embeddings=False, n=3)
  os.remove(os.path.join(folder, "train", "img001.txt"))
  with pytest.raises(text_data.TextDataError, match=r"img001.png has no captions: expected "):
    text_data._folder_split(folder, "train", 16, 3)
  with pytest.raises(ConfigError, match="needs --config.folder"):
    train.check_config(tiny(1, dataset="folder", channels=3))
  with pytest.raises(ConfigError, match="is not a directory"):
    train.check_config(tiny(1, dataset="folder", folder=str(tmp_path), channels=3))
  with pytest.raises(ConfigError, match="unknown dataset 'digits'"):
    train.check_config(tiny(1, dataset="digits"))


def test_the_halving_schedule_halves_both_rates_every_halve_every_steps():
  from ganjax.families import base
  c = tiny(1)
  c.optimizer.halve_every = 10
  rates = [base.learning_rates(c, step) for step in (0, 9, 10, 25)]
  assert [r["g_learning_rate"] for r in rates] == pytest.approx([2e-4, 2e-4, 1e-4, 5e-5])
  assert [r["d_learning_rate"] for r in rates] == pytest.approx([2e-4, 2e-4, 1e-4, 5e-5])
  # The optimizer follows it: Adam's first update is -lr * sign(g), its 11th half as large.
  g_tx, _ = base.build_optimizers(c)
  opt, params = g_tx.init(jnp.zeros(1)), jnp.zeros(1)
  for step in range(11):
    update, opt = g_tx.update(jnp.ones(1), opt, params)
    if step in (0, 10):
      assert float(update[0]) == pytest.approx(-2e-4 if step == 0 else -1e-4, rel=1e-3)
  c.optimizer.halve_every = 0
  with pytest.raises(ConfigError, match="halve_every >= 1"):
    train.check_config(c)


def test_a_resumed_stage2_run_ends_as_the_uninterrupted_one(both_stages, cache, tmp_path):
  from ganjax.restore import load_trained
  stage1 = os.path.join(both_stages, "stage1")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("GANJAX_CACHE_DIR", cache)
    straight = str(tmp_path / "straight")
    train.train_and_evaluate(tiny(2, num_steps=4, stage1_workdir=stage1), straight)
    resumed = str(tmp_path / "resumed")
    train.train_and_evaluate(tiny(2, num_steps=2, stage1_workdir=stage1), resumed)
    train.train_and_evaluate(tiny(2, num_steps=4, stage1_workdir=stage1), resumed)
  (_, a), (_, b) = load_trained(straight), load_trained(resumed)
  assert int(a.step) == int(b.step) == 4
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)

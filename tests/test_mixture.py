"""The 2-D mixture benchmark: datasets, mode metrics on hand-made samples, the scatter, a run."""

import itertools
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from ganjax import mixture, packing, train
from experiments.configs import mixture as mixture_config
from conftest import run_module

RING, GRID = mixture.get("ring"), mixture.get("grid")


def test_the_two_mixtures():
  assert RING.num_modes == 8 and RING.std == 0.01
  np.testing.assert_allclose(np.linalg.norm(RING.means, axis=1), 1.0)
  np.testing.assert_allclose(RING.means[2], [0.0, 1.0], atol=1e-12)
  assert GRID.num_modes == 25 and GRID.std == 0.05
  assert {tuple(m) for m in GRID.means} == set(itertools.product([-4, -2, 0, 2, 4], repeat=2))
  with pytest.raises(ValueError, match="valid: ring, grid"):
    mixture.get("spiral")


def test_points_are_drawn_once_with_a_fixed_seed():
  x = mixture.points("grid")
  assert x.shape == (100_000, 2) and x.dtype == np.float32
  assert mixture.points("grid") is x  # Drawn once.
  np.testing.assert_array_equal(x, mixture.points.__wrapped__("grid"))  # Same seed, same points.
  m = mixture.mode_metrics(x[:5000], GRID)
  # A 2-D Gaussian is within 3 std of its mean with probability 1 - e^(-9/2) = 0.989.
  assert m["modes_covered"] == 25 and abs(m["high_quality_fraction"] - (1 - math.exp(-4.5))) < 0.01
  counts = np.bincount(np.argmin(np.linalg.norm(x[:, None] - GRID.means, axis=-1), 1))
  assert counts.min() > 0.9 * 100_000 / 25  # Equal weights.


def test_load_shuffles_per_epoch_and_shards():
  it = mixture.load("ring", batch_size=50_000, seed=3)
  a, b, c = next(it)["image"], next(it)["image"], next(it)["image"]
  x = mixture.points("ring")
  assert sorted(map(tuple, np.concatenate([a, b]))) == sorted(map(tuple, x))  # One epoch.
  assert not np.array_equal(a, c)  # A new permutation next epoch.
  whole = next(mixture.load("ring", batch_size=8, seed=1))["image"]
  halves = [next(mixture.load("ring", batch_size=4, seed=1, shard_index=i, shard_count=2))
            ["image"] for i in (0, 1)]
  np.testing.assert_array_equal(np.concatenate(halves), whole)


def test_metrics_all_modes_exact():
  # 10 samples exactly at each ring mode: all covered, all high quality, uniform.
  m = mixture.mode_metrics(np.repeat(RING.means, 10, axis=0), RING)
  assert m == {"modes_covered": 8, "num_modes": 8, "high_quality_fraction": 1.0,
               "reverse_kl": 0.0}


def test_metrics_collapse_to_one_mode():
  m = mixture.mode_metrics(np.tile(GRID.means[7], (100, 1)), GRID)
  assert m["modes_covered"] == 1 and m["high_quality_fraction"] == 1.0
  assert m["reverse_kl"] == pytest.approx(math.log(25))  # The maximum, log K.


def test_metrics_three_std_threshold_and_low_quality_modes_not_covered():
  std = RING.std
  samples = np.array([
      [1 + 2.9 * std, 0.0],   # mode 0, high quality
      [1 + 3.1 * std, 0.0],   # mode 0, low quality
      [0.0, 1 - 2.0 * std],   # mode 2, high quality
      [0.0, 0.5],             # nearest mode 2 (distance 0.5), low quality
  ])
  m = mixture.mode_metrics(samples, RING)
  assert m["modes_covered"] == 2
  assert m["high_quality_fraction"] == 0.5
  # All four samples count in the histogram: p = (1/2, 1/2) over modes 0 and 2 of 8.
  assert m["reverse_kl"] == pytest.approx(math.log(4))
  # Only low-quality samples near mode 5: nothing covered, but the histogram still counts.
  far = RING.means[5] * 1.5
  m = mixture.mode_metrics(np.stack([far, far]), RING)
  assert m["modes_covered"] == 0 and m["high_quality_fraction"] == 0.0
  assert m["reverse_kl"] == pytest.approx(math.log(8))


def test_metrics_uneven_histogram_value():
  # 3 samples at mode 0 and 1 at mode 1 of the ring:
  # KL = 3/4 log(3/4 * 8) + 1/4 log(1/4 * 8).
  samples = np.array([RING.means[0]] * 3 + [RING.means[1]])
  expected = 0.75 * math.log(6) + 0.25 * math.log(2)
  assert mixture.mode_metrics(samples, RING)["reverse_kl"] == pytest.approx(expected)


def test_metrics_bad_input_and_diverged_samples():
  with pytest.raises(ValueError, match="shape"):
    mixture.mode_metrics(np.zeros((4, 3)), RING)
  m = mixture.mode_metrics(np.array([[np.nan, 0.0], RING.means[0]]), RING)
  assert m["modes_covered"] == 1 and m["high_quality_fraction"] == 0.5


def test_write_evaluation(tmp_path):
  samples = np.repeat(GRID.means, 4, axis=0) + 0.01
  m = mixture.write_evaluation(str(tmp_path), "grid", samples, step=7)
  on_disk = json.load(open(tmp_path / "eval.json"))
  assert on_disk == m
  assert {k: on_disk[k] for k in ("modes_covered", "num_modes", "step", "num_samples")} == {
      "modes_covered": 25, "num_modes": 25, "step": 7, "num_samples": 100}
  img = np.asarray(Image.open(tmp_path / "eval.png").convert("RGB"))
  assert img.shape[1] == 512
  # Both sample dots (blue) and mode rings (red) are drawn.
  assert np.any(np.all(img == (31, 119, 180), axis=-1))
  assert np.any(np.all(img == (214, 39, 40), axis=-1))


def test_packing_points_concatenates_consecutive_examples():
  x = np.arange(12.0).reshape(6, 2)
  np.testing.assert_array_equal(packing.pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
  with pytest.raises(ValueError, match="groups of 4"):
    packing.pack(x, 4)


def test_mixture_run_writes_eval_and_scatter(tmp_path):
  c = mixture_config.get_config("grid")
  c.hidden, c.latent_dim, c.batch_size = (16,), 4, 32
  c.num_steps, c.log_every, c.sample_every, c.checkpoint_every = 3, 3, 2, 3
  c.num_sample_images = 50
  state = train.train_and_evaluate(c, str(tmp_path))
  assert int(state.step) == 3
  ev = json.load(open(tmp_path / "eval.json"))
  assert ev["num_modes"] == 25 and ev["num_samples"] == 2500 and ev["step"] == 3
  assert 0 <= ev["modes_covered"] <= 25 and 0 <= ev["reverse_kl"] <= math.log(25) + 1e-9
  assert sorted(os.listdir(tmp_path / "samples")) == ["step_000002.png", "step_000003.png"]
  assert os.path.exists(tmp_path / "eval.png")
  assert os.path.exists(tmp_path / "checkpoints" / "3")
  # experiments.sample draws the family's picture: a scatter plot, not an image grid.
  out = run_module("experiments.sample", f"--workdir={tmp_path}", "--num=40",
                   f"--out={tmp_path / 's.png'}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "wrote 40 samples from step 3" in out.stdout
  assert Image.open(tmp_path / "s.png").size == Image.open(tmp_path / "eval.png").size


def test_mixture_needs_the_mlp(tmp_path):
  c = mixture_config.get_config("ring")
  c.model = "dcgan"
  with pytest.raises(train.ConfigError, match="needs model='mlp'"):
    train.check_config(c)


def test_every_mixture_table_row_is_a_valid_config_and_one_is_the_default():
  from absl import flags
  from benchmarks import mixture_table
  # Importing defines no flags: other benchmarks define flags of the same names (--seeds).
  assert "json_out" not in flags.FLAGS
  rows = {name: overrides for name, _, overrides in mixture_table.ROWS}
  for name, overrides in rows.items():
    for dataset in ("ring", "grid"):
      train.check_config(mixture_table.config_of(overrides, dataset, seed=1))
  assert "," not in "".join(rows)  # --rows splits at commas.
  for dataset in ("ring", "grid"):  # The README's default is the table's row, field by field.
    expected = mixture_config.get_config(dataset)
    expected.seed = 2
    row = mixture_table.config_of(rows[mixture_table.DEFAULT_ROW], dataset, seed=2)
    assert row.to_dict() == expected.to_dict()

"""benchmarks/dcgan_quality.py: its rows' configs and its table (the runs are by hand)."""

import pytest

from benchmarks import dcgan_quality as bench
from experiments.configs import dcgan


def test_every_row_is_the_recipe_plus_its_own_overrides_and_default_is_the_config():
  for name, _, overrides in bench.ROWS:
    c = bench.config_of(name, seed=2, num_steps=30)
    assert (c.seed, c.num_steps, c.sample_every, c.checkpoint_every) == (2, 30, 30, 30)
    if overrides is None:  # The config file as it is.
      expected = dcgan.get_config("digits")
      expected.seed, expected.num_steps = 2, 30
      expected.sample_every = expected.checkpoint_every = 30
      assert c.to_dict() == expected.to_dict()
      continue
    for key, value in {**bench.RECIPE, **overrides, "num_steps": 30}.items():
      node = c
      for part in key.split("."):
        node = node[part]
      assert node == value, (name, key)
  recipe = bench.config_of("recipe", seed=0)
  assert recipe.num_steps == 5000 and recipe.ema_decay == 0.999
  assert recipe.g_output == "tanh" and recipe.ema_batch_stats == "live"
  with pytest.raises(ValueError, match="unknown row 'nope'"):
    bench.config_of("nope", seed=0)


def test_the_table_gives_mean_and_spread_per_row_and_the_real_images_last():
  run = lambda fcd, **extra: {"fcd": fcd, "fcd_300": 20.0, "precision": 0.5, "recall": 0.8,
                              "density": 0.3, "coverage": 0.4, "real_fcd": 12.9,
                              "real_fcd_300": 12.9, "real_precision": 0.89,
                              "real_recall": 0.9, "real_density": 0.93,
                              "real_coverage": 0.57, "num_real": 300, **extra}
  text = bench.table({"recipe": [run(40.0, train_s=300.0), run(50.0, train_s=320.0)],
                      "default": [run(30.0)]})
  lines = text.splitlines()
  assert lines[0].startswith("| run | seeds | FCD | FCD, sets of 300 | precision")
  assert lines[2] == "| recipe | 2 | 45.00 ± 5.00 | 20.00 ± 0.00 | 0.50 ± 0.00 | " \
                     "0.80 ± 0.00 | 0.30 ± 0.00 | 0.40 ± 0.00 | 310 |"
  assert lines[3] == "| default | 1 | 30.00 | 20.00 | 0.50 | 0.80 | 0.30 | 0.40 | - |"
  assert lines[4] == "| real test images (300) | - | 12.90 | 12.90 | 0.89 | 0.90 | 0.93 | " \
                     "0.57 | - |"


def test_a_sampling_row_shares_its_training_rows_runs_and_differs_only_in_sampling():
  for name, _, trained, sampling in bench.SAMPLING_ROWS:
    assert bench.trained_row(name) == trained and set(sampling) <= set(bench.SAMPLING_FIELDS)
    c, base = bench.config_of(name, seed=1), bench.config_of(trained, seed=1)
    for key in bench.SAMPLING_FIELDS:  # Only the sampling fields differ ...
      c[key] = base[key]
    assert c.to_dict() == base.to_dict()
    assert bench.config_of(name, seed=1)["drs_keep"] == sampling["drs_keep"]
  assert bench.trained_row("recipe") == "recipe"
  assert "," not in "".join(bench.ROW_NAMES)  # --rows splits at commas.


def test_chunked_fcd_averages_the_fcd_of_disjoint_sets():
  import numpy as np
  from ganjax import metrics
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(200, 3)), rng.normal(0.5, 1.0, size=(25, 3))
  expected = np.mean([metrics.frechet_distance(real, fake[i:i + 10]) for i in (0, 10)])
  assert bench.chunked_fcd(real, fake, 10) == pytest.approx(expected)  # 5 rows left out.
  assert bench.chunked_fcd(real, fake, 10) > metrics.frechet_distance(real, fake)
  with pytest.raises(ValueError, match="fewer than 30 samples: 25"):
    bench.chunked_fcd(real, fake, 30)
